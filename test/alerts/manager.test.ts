/**
 * The whole pipeline against real local servers: the PagerDuty and Slack contract servers and the
 * fauxqs SNS/SQS emulator. Real time, short delays.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/lib/clock.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { alertsConfigSchema, createAlertManager, type AlertManager } from '../../src/alerts/index.ts';
import { startPagerDutyContract, type PagerDutyContract } from '../contract/pagerduty.ts';
import { startSlackContract, type SlackContract } from '../contract/slack.ts';
import { AWS_TEST_CREDS, startSnsFixture, type SnsFixture } from './fauxqs.ts';
import { memoryStore, PD_KEY, SLACK_TOKEN, sleep, waitFor } from './helpers.ts';

let pd: PagerDutyContract;
let slack: SlackContract;
let sns: SnsFixture;

beforeAll(async () => {
  sns = await startSnsFixture();
});
afterAll(() => sns.close());
beforeEach(async () => {
  pd = await startPagerDutyContract({ validKeys: [PD_KEY] });
  slack = await startSlackContract({ token: SLACK_TOKEN, channels: ['C0ALERTS'] });
  await sns.drain();
});
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
  await pd.close();
  await slack.close();
});

// PagerDuty timeout 2 s: at 300 ms a loaded machine timed out a request the contract had already
// recorded, the retry recorded it again, and the event counts below were off by one.
function config(over: { pdKey?: string; slackToken?: string; escalateAfter?: string; reminderEvery?: string } = {}) {
  return alertsConfigSchema.parse({
    reminderEvery: over.reminderEvery,
    notifiers: {
      pagerduty: { type: 'pagerduty', routingKey: over.pdKey ?? PD_KEY, eventsUrl: pd.url, timeoutMs: 2000, source: 'quietwatch-test' },
      slack: { type: 'slack', token: over.slackToken ?? SLACK_TOKEN, channel: 'C0ALERTS', apiUrl: slack.apiUrl, timeoutMs: 1000 },
      sms: { type: 'sns', topicArn: sns.topicArn, endpoint: sns.endpoint, region: 'us-east-1', ...AWS_TEST_CREDS, timeoutMs: 2000 },
    },
    routes: { default: { warning: ['slack'], page: ['pagerduty', 'slack'] } },
    escalation: { after: over.escalateAfter ?? '10s', fallback: ['sms'] },
    retry: { minDelay: '20ms', maxDelay: '80ms', maxAttempts: 5, deadline: '2s' },
  });
}

async function manager(cfg = config()): Promise<AlertManager> {
  const { db, store } = memoryStore();
  const m = createAlertManager(cfg, { store, clock: systemClock, logger: silentLogger() });
  await m.start();
  stops.push(async () => {
    await m.stop();
    db.close();
  });
  return m;
}

const details = {
  state: 'down',
  lastEventAt: Date.now() - 240_000,
  silenceMs: 240_000,
  normal: '1 event every 0.8 s',
  runbookUrl: 'https://runbooks.example/card-auth',
  dashboardUrl: 'https://grafana.example/d/card',
};

describe('AlertManager end to end', () => {
  it('a down -> ack -> ok cycle: one PagerDuty trigger and one resolve with the same dedup key, one Slack message edited twice', async () => {
    const m = await manager();
    const inc = await m.checkDown({ check: 'card-auth', labels: { team: 'payments' }, at: Date.now(), reason: 'no events for 4m', details });
    await waitFor(() => pd.events.length === 1 && slack.topLevel().length === 1, 15_000, 'trigger delivered');
    await m.ack(inc.id, 'ana');
    await waitFor(() => pd.events.length === 2 && slack.replies(slack.topLevel()[0]!.ts).length === 1, 15_000, 'ack delivered');
    await m.checkRecovered({ check: 'card-auth', at: Date.now(), reason: 'events are back' });
    await waitFor(() => pd.events.length === 3 && slack.replies(slack.topLevel()[0]!.ts).length === 2, 15_000, 'resolve delivered');

    expect(pd.events.map((e) => e.event_action)).toEqual(['trigger', 'acknowledge', 'resolve']);
    expect(new Set(pd.events.map((e) => e.dedup_key))).toEqual(new Set([inc.dedupKey]));
    expect(pd.incidentsOpened()).toBe(1);
    expect(pd.events[0]!.payload).toMatchObject({ severity: 'critical', source: 'quietwatch-test' });
    expect(pd.events[0]!.links).toHaveLength(2);

    const [msg] = slack.topLevel();
    expect(slack.topLevel()).toHaveLength(1);
    expect(msg!.edits).toBe(2);
    expect(msg!.history.map((t) => t.replace(/\].*/, ']'))).toEqual(['[DOWN]', '[ACKNOWLEDGED]', '[RESOLVED]']);
    expect(slack.replies(msg!.ts).map((r) => r.text)).toEqual(['Acknowledged by ana.', 'Resolved: events are back']);
    expect(slack.calls.filter((c) => c.method === 'chat.update')).toHaveLength(2);
    await waitFor(async () => (await m.health()).pendingPages === 0, 2000, 'outbox drained');
    expect(await m.health()).toMatchObject({ ok: true, degraded: [], permanentFailures: [], pendingPages: 0, store: { ok: true, unsaved: 0 } });
  });

  it('honours Retry-After on a 429 before retrying', async () => {
    const m = await manager();
    pd.script({ status: 429, retryAfter: '0.4' });
    await m.checkDown({ check: 'card-auth', at: Date.now(), reason: 'x' });
    await waitFor(() => pd.events.length === 1, 15_000, 'trigger after 429');
    expect(pd.requestTimes).toHaveLength(2);
    expect(pd.requestTimes[1]! - pd.requestTimes[0]!).toBeGreaterThanOrEqual(380);
  });

  it('PagerDuty down: pages are retried, the SNS fallback fires after the escalation time, Slack says so, and every page lands once PagerDuty is back', async () => {
    const m = await manager(config({ escalateAfter: '500ms' }));
    pd.setDown({ status: 500 });
    const t0 = Date.now();
    const inc = await m.checkDown({ check: 'card-auth', labels: {}, at: t0, reason: 'no events for 4m', details });
    const got: Awaited<ReturnType<SnsFixture['drain']>> = [];
    await waitFor(async () => {
      got.push(...(await sns.drain()));
      return got.length > 0;
    }, 15_000, 'SNS fallback');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(480);
    expect(got[0]!.Subject).toContain('[DOWN (escalated)] card-auth');
    expect(got[0]!.MessageAttributes?.dedup_key?.Value).toBe(inc.dedupKey);
    await waitFor(() => slack.topLevel()[0]?.text.includes('escalated') ?? false, 15_000, 'Slack message says escalated');
    expect(slack.replies(slack.topLevel()[0]!.ts).map((r) => r.text)).toEqual([
      'Escalated: the page could not be delivered in time and was sent through the fallback route.',
    ]);
    expect(pd.requests.length).toBeGreaterThan(2); // retried
    expect(pd.events).toHaveLength(0);
    expect((await m.health()).pendingPages).toBe(1);

    pd.setDown(undefined);
    await waitFor(() => pd.events.length === 1, 15_000, 'PagerDuty trigger after recovery');
    await waitFor(async () => (await m.health()).pendingPages === 0, 2000, 'outbox drained');
    await m.checkRecovered({ check: 'card-auth', at: Date.now(), reason: 'events are back' });
    await waitFor(() => pd.events.length === 2, 15_000, 'resolve');
    const more: typeof got = [];
    await waitFor(async () => {
      more.push(...(await sns.drain()));
      return more.length > 0;
    }, 15_000, 'SNS resolve');
    expect(more[0]!.Subject).toContain('[RESOLVED]');
    expect(pd.events.map((e) => [e.event_action, e.dedup_key])).toEqual([
      ['trigger', inc.dedupKey],
      ['resolve', inc.dedupKey],
    ]);
    expect(pd.incidentsOpened()).toBe(1);
    expect(slack.topLevel()).toHaveLength(1);
    await waitFor(async () => (await m.health()).pendingPages === 0, 2000, 'outbox drained');
    expect((await m.health()).ok).toBe(true);
  });

  it('permanent errors (invalid routing key, Slack invalid_auth): no retry storm, surfaced in health()', async () => {
    const m = await manager(config({ pdKey: 'X'.repeat(32), slackToken: 'xoxb-revoked' }));
    await m.checkDown({ check: 'card-auth', at: Date.now(), reason: 'x' });
    await waitFor(async () => (await m.health()).permanentFailures.length === 2, 15_000, 'failures in health');
    await sleep(300);
    expect(pd.requests).toHaveLength(1);
    // one attempt per notification: the page, and the escalation notice (the pager failed for good)
    expect(slack.calls.map((c) => c.outcome)).toEqual(['invalid_auth', 'invalid_auth']);
    const h = await m.health();
    expect(h.ok).toBe(false);
    expect(h.pendingPages).toBe(0);
    expect(h.permanentFailures.map((f) => [f.notifier, f.code]).sort()).toEqual([
      ['pagerduty', 'PAGERDUTY_INVALID_ROUTING_KEY'],
      ['slack', 'SLACK_INVALID_AUTH'],
    ]);
    // the pager failed for good, so the fallback route was used at once
    const got = await sns.drain(1);
    expect(got.map((g) => g.Subject)).toEqual(['[DOWN (escalated)] card-auth: card-auth is down: x']);
  });

  it('reminds in the Slack thread (broadcast) while unacknowledged, never in PagerDuty', async () => {
    const m = await manager(config({ reminderEvery: '150ms' }));
    const inc = await m.checkDown({ check: 'card-auth', at: Date.now(), reason: 'x' });
    await waitFor(() => slack.topLevel().length === 1 && slack.replies(slack.topLevel()[0]!.ts).length >= 2, 15_000, 'two reminders');
    await m.ack(inc.id, 'ana');
    const root = slack.topLevel()[0]!;
    await waitFor(() => slack.replies(root.ts).some((r) => r.text === 'Acknowledged by ana.'), 15_000, 'ack reply');
    const count = slack.replies(root.ts).length;
    await sleep(400);
    expect(slack.replies(root.ts)).toHaveLength(count); // no reminders after the ack
    const reminderCalls = slack.calls.filter((c) => c.method === 'chat.postMessage' && String(c.args.text).startsWith('Still down'));
    expect(reminderCalls.length).toBeGreaterThanOrEqual(2);
    expect(reminderCalls.every((c) => c.args.thread_ts === root.ts && c.args.reply_broadcast === 'true')).toBe(true);
    expect(pd.events.map((e) => e.event_action)).toEqual(['trigger', 'acknowledge']);
  });

  it('a warning goes to Slack only', async () => {
    const m = await manager();
    await m.warning({ check: 'card-auth', at: Date.now(), kind: 'probe-refused', summary: 'acquirer refused the probe charge' });
    await waitFor(() => slack.topLevel().length === 1, 15_000, 'warning in Slack');
    await sleep(100);
    expect(pd.requests).toHaveLength(0);
    expect(slack.topLevel()[0]!.text).toContain('[WARNING (probe-refused)]');
  });
});
