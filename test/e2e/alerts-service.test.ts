/**
 * Alerts through the real service: a check goes down and comes back; PagerDuty and Slack contract
 * servers validate what they receive. Then the crash case: the service is SIGKILLed while PagerDuty
 * has not answered the trigger; after a restart the trigger is delivered and PagerDuty sees one incident.
 */
import { writeFileSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startPagerDutyContract, type PagerDutyContract } from '../contract/pagerduty.ts';
import { startSlackContract, type SlackContract } from '../contract/slack.ts';
import { freePort, getJson, runCli, waitFor, type Proc } from '../helpers/process.ts';
import { startService, tempDir, type Running } from '../helpers/service.ts';

const ROUTING_KEY = 'R0123456789abcdef0123456789abcde'; // 32 characters
const SLACK_TOKEN = 'xoxb-test-token-0123456789';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function alertsYaml(pd: PagerDutyContract, slack: SlackContract, extra = '', pageAfter = '700ms'): string {
  return `
alerts:
  notifiers:
    pager: { type: pagerduty, routingKey: "\${PD_KEY}", eventsUrl: "${pd.url}", timeoutMs: 1000 }
    team: { type: slack, token: "\${SLACK_TOKEN}", channel: C0PAYMENTS, apiUrl: "${slack.apiUrl}", timeoutMs: 1000 }
  routes: { default: { warning: [team], page: [pager, team] } }
  retry: { minDelay: 50ms, maxDelay: 300ms }
${extra}
checks:
  - name: cards
    quietAfter: 300ms
    pageAfter: ${pageAfter}
    runbook: https://runbooks.example/cards
    dashboard: https://grafana.example/d/quietwatch-check?var-check=cards
    labels: { team: payments }
`;
}

async function contracts() {
  const pd = await startPagerDutyContract({ validKeys: [ROUTING_KEY] });
  const slack = await startSlackContract({ token: SLACK_TOKEN, channels: ['C0PAYMENTS'] });
  cleanups.push(() => pd.close(), () => slack.close());
  return { pd, slack };
}

describe('alerts through the real service', () => {
  it('a down -> ack -> ok cycle: one trigger, one acknowledge, one resolve with one dedup key; one Slack message edited twice', async () => {
    const { pd, slack } = await contracts();
    // pageAfter 3 s: a check that never had an event pages pageAfter after the service starts (the
    // restart rule), and on a loaded machine 700 ms passed before the first ping: that page, resolved
    // by the ping, was taken for this one (no open incident left to acknowledge).
    const s: Running = await startService(alertsYaml(pd, slack, '', '3s'), { env: { PD_KEY: ROUTING_KEY, SLACK_TOKEN } });
    cleanups.push(() => s.close());

    await s.fetch('/v1/streams/cards/ping', { method: 'POST' });
    await waitFor(() => (pd.events.some((e) => e.event_action === 'trigger') ? true : undefined));
    const trigger = pd.events.find((e) => e.event_action === 'trigger')!;
    expect(trigger.payload!.summary.length).toBeLessThanOrEqual(1024);
    expect(trigger.payload!.summary).toMatch(/cards/);
    expect(trigger.payload!.severity).toBe('critical');
    const cd = trigger.payload!.custom_details as Record<string, unknown>;
    expect(JSON.stringify(cd)).toMatch(/silent/);
    expect(JSON.stringify(cd)).toContain('https://runbooks.example/cards');
    expect(trigger.links?.map((l) => l.href)).toEqual(expect.arrayContaining(['https://runbooks.example/cards']));

    const incidents = (await s.fetch('/v1/incidents?open=true')).body.incidents;
    expect(incidents).toHaveLength(1);
    const ack = await s.fetch(`/v1/incidents/${incidents[0].id}/ack`, { method: 'POST', body: JSON.stringify({ by: 'alice' }), headers: { 'content-type': 'application/json' } });
    expect(ack.status).toBe(200);
    await waitFor(() => (pd.events.some((e) => e.event_action === 'acknowledge') ? true : undefined));

    await s.fetch('/v1/streams/cards/ping', { method: 'POST' });
    await waitFor(() => (pd.events.some((e) => e.event_action === 'resolve') ? true : undefined));
    // The incident's message (the quiet warning before it is a message of its own).
    const incidentMessages = () => slack.topLevel().filter((m) => /DOWN/.test(m.history[0] ?? ''));
    await waitFor(() => (incidentMessages()[0]?.edits === 2 ? true : undefined));

    const actions = pd.events.map((e) => e.event_action);
    expect(actions).toEqual(['trigger', 'acknowledge', 'resolve']);
    expect(new Set(pd.events.map((e) => e.dedup_key)).size).toBe(1);
    expect(pd.incidentsOpened()).toBe(1);
    const top = incidentMessages();
    expect(top).toHaveLength(1);
    expect(top[0]!.history.map((h) => h.split(']')[0])).toEqual(['[DOWN', '[ACKNOWLEDGED', '[RESOLVED']);
    // One warning message per quiet spell: one before the page, and one more on a loaded machine
    // where the service started more than quietAfter (300 ms) before the first ping.
    const quietSpells = ((await s.fetch('/v1/checks/cards')).body.flips as Array<{ to: string }>).filter((f) => f.to === 'quiet').length;
    expect(quietSpells).toBeGreaterThanOrEqual(1);
    expect(slack.topLevel().filter((m) => /WARNING \(quiet\)/.test(m.text))).toHaveLength(quietSpells);
    expect(top[0]!.edits).toBe(2);
    expect(slack.replies(top[0]!.ts).length).toBeGreaterThanOrEqual(2);
    // The check's API view shows no open incident any more.
    expect((await s.fetch('/v1/checks/cards')).body.incident).toBeNull();
  });

  it('a silenced check still goes down and records it, its page is held, and goes out when the silence is lifted', async () => {
    const { pd, slack } = await contracts();
    const s = await startService(alertsYaml(pd, slack), { env: { PD_KEY: ROUTING_KEY, SLACK_TOKEN } });
    cleanups.push(() => s.close());
    const sil = await s.fetch('/v1/silences', { method: 'POST', body: JSON.stringify({ check: 'cards', for: '2h', reason: 'card network maintenance' }), headers: { 'content-type': 'application/json' } });
    expect(sil.status).toBe(201);
    await s.fetch('/v1/streams/cards/ping', { method: 'POST' });
    await waitFor(async () => ((await s.fetch('/v1/checks/cards')).body.status === 'down' ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    expect(pd.events).toEqual([]);
    expect((await s.fetch('/v1/incidents?open=true')).body.incidents).toHaveLength(1);
    const bad = await s.fetch('/v1/silences', { method: 'POST', body: JSON.stringify({ check: 'cards', for: 'forever', reason: 'x' }), headers: { 'content-type': 'application/json' } });
    expect(bad).toMatchObject({ status: 400, body: { field: 'for' } });
    const typo = await s.fetch('/v1/silences', { method: 'POST', body: JSON.stringify({ check: 'crads', for: '1h', reason: 'x' }), headers: { 'content-type': 'application/json' } });
    expect(typo).toMatchObject({ status: 400, body: { field: 'check' } });
    // The list of checks carries the open incident (quietwatch status shows it).
    const list = (await s.fetch('/v1/checks')).body.checks;
    expect(list.find((c: { name: string }) => c.name === 'cards').incident).toMatchObject({ check: 'cards', status: 'open' });
    expect((await s.fetch(`/v1/silences/${sil.body.silence.id}`, { method: 'DELETE' })).status).toBeLessThan(300);
    await waitFor(() => (pd.events.some((e) => e.event_action === 'trigger') ? true : undefined));
    expect(pd.incidentsOpened()).toBe(1);
  });

  it('a crash between the down flip and its incident: the page is restored at start, and a stale incident is resolved', async () => {
    const { pd, slack } = await contracts();
    const dir = tempDir();
    const yaml = `store: { path: ${join(dir, 'qw.sqlite')} }\n${alertsYaml(pd, slack)}`;
    const env = { PD_KEY: ROUTING_KEY, SLACK_TOKEN };
    pd.setDown({ status: 500 }); // nothing is delivered in the first life
    const s1 = await startService(yaml, { dir, env });
    await s1.fetch('/v1/streams/cards/ping', { method: 'POST' });
    await waitFor(async () => ((await s1.fetch('/v1/checks/cards')).body.status === 'down' ? true : undefined));
    await s1.close();
    // Simulate the crash: the flip to down is stored, the incident and its outbox rows are not.
    const db = new BetterSqlite3(join(dir, 'qw.sqlite'));
    db.exec('DELETE FROM alert_outbox; DELETE FROM alert_receipts; DELETE FROM alert_incidents;');
    db.close();
    pd.setDown(undefined);
    const s2 = await startService(yaml, { dir, env });
    cleanups.push(() => s2.close());
    await waitFor(() => (pd.events.some((e) => e.event_action === 'trigger') ? true : undefined));
    const open = (await s2.fetch('/v1/incidents?open=true')).body.incidents;
    expect(open).toHaveLength(1);
    expect(open[0].check).toBe('cards');
    expect((await s2.fetch('/v1/checks/cards')).body.status).toBe('down');
    await s2.close();
    cleanups.pop();

    // The other way round: the flip back to ok is stored but the incident is still open.
    const db2 = new BetterSqlite3(join(dir, 'qw.sqlite'));
    const row = db2.prepare("SELECT state FROM check_state WHERE name = 'cards'").get() as { state: string };
    db2.prepare("UPDATE check_state SET state = ? WHERE name = 'cards'").run(JSON.stringify({ ...JSON.parse(row.state), status: 'ok' }));
    db2.close();
    const s3 = await startService(yaml, { dir, env });
    cleanups.push(() => s3.close());
    await waitFor(() => (pd.events.some((e) => e.event_action === 'resolve') ? true : undefined));
    expect((await s3.fetch('/v1/incidents?open=true')).body.incidents).toEqual([]);
    expect(new Set(pd.events.map((e) => e.dedup_key)).size).toBe(1);
  });

  it('SIGKILL after the incident opened but before PagerDuty answered: the trigger is delivered after restart, one incident', async () => {
    const { pd, slack } = await contracts();
    pd.setDown({ hang: true });
    const dir = tempDir();
    const port = await freePort();
    const cfg = join(dir, 'qw.yaml');
    // Limits long enough that the check goes down only after the ping, even when a loaded machine is
    // slow between the process listening and the ping (with 700 ms it could page from the start,
    // flap on the ping and page again: two incidents that were the test's timing, not a crash).
    const yaml = alertsYaml(pd, slack).replace('quietAfter: 300ms', 'quietAfter: 1500ms').replace('pageAfter: 700ms', 'pageAfter: 3s');
    writeFileSync(cfg, `server: { port: ${port} }\nstore: { path: ${join(dir, 'qw.sqlite')} }\n${yaml}`);
    const env = { PD_KEY: ROUTING_KEY, SLACK_TOKEN };
    const url = `http://127.0.0.1:${port}`;
    const procs: Proc[] = [];
    cleanups.push(() => procs.forEach((p) => p.child.kill('SIGKILL')));
    const p1 = runCli(['serve', '--config', cfg], env);
    procs.push(p1);
    await waitFor(async () => (await fetch(`${url}/healthz`)).ok, 30_000); // a process start: slow on a loaded machine
    await fetch(`${url}/v1/streams/cards/ping`, { method: 'POST' });
    // The trigger reached PagerDuty, which is hanging: kill the service before it hears back.
    await waitFor(() => (pd.requests.length > 0 ? true : undefined));
    p1.child.kill('SIGKILL');
    await p1.exited;
    expect(pd.events).toEqual([]);

    pd.setDown(undefined);
    const p2 = runCli(['serve', '--config', cfg], env);
    procs.push(p2);
    await waitFor(async () => (await fetch(`${url}/healthz`)).ok, 30_000); // a process start: slow on a loaded machine
    await waitFor(() => (pd.events.some((e) => e.event_action === 'trigger') ? true : undefined));
    expect(pd.incidentsOpened()).toBe(1);
    const incidents = (await getJson(`${url}/v1/incidents?open=true`)).incidents;
    expect(incidents).toHaveLength(1);
    expect((await getJson(`${url}/v1/checks/cards`)).status).toBe('down');
    // Traffic returns: resolved with the same dedup key.
    await fetch(`${url}/v1/streams/cards/ping`, { method: 'POST' });
    await waitFor(() => (pd.events.some((e) => e.event_action === 'resolve') ? true : undefined));
    // Up to the resolve (the check may go quiet and page anew 3 s after the ping: another outage).
    const upToResolve = pd.events.slice(0, pd.events.findIndex((e) => e.event_action === 'resolve') + 1);
    expect(new Set(upToResolve.map((e) => e.dedup_key)).size).toBe(1);
  }, 90_000);
});
