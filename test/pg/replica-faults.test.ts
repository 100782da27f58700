/**
 * Two real `quietwatch serve` processes on one PostgreSQL, under faults:
 *  - the leader frozen with SIGSTOP past its lease, then SIGCONT: the follower has taken over, and the
 *    old leader sends nothing and charges nothing with its stale token (it exits 75, deposed);
 *  - PostgreSQL stopped for QW_PG_DOWN_MS (default 60 s) under load: every POST answers 503 with a
 *    JSON reason (never 202), nothing accepted is lost, and a leader is back without restarting the
 *    follower once the database returns.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { ContractAcquirer, type SyntheticTransaction } from '../contract/acquirer.ts';
import { startPagerDutyContract, type PagerDutyContract } from '../contract/pagerduty.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../contract/webhook-receiver.ts';
import { freePort, runCli, waitFor, type Proc } from '../helpers/process.ts';
import { startPostgres, type PgCluster } from '../helpers/postgres.ts';
import { tempDir } from '../helpers/service.ts';

const PD_KEY = 'R0UT1NGKEY0123456789abcdefABCDEF';
const HOOK_SECRET = 'hook-secret-for-the-replica-test';
const DOWN_MS = Number(process.env.QW_PG_DOWN_MS ?? 60_000);

let cluster: PgCluster;
let pd: PagerDutyContract;
let acq: ContractAcquirer;
let hook: WebhookReceiver;
let dir: string;
let procs: Proc[] = [];

const yaml = () => `
store: { leaseTtl: 3s, lostAfter: 5s }
probes:
  drivers:
    acquirer:
      type: http
      url: ${acq.url}/v1/charges
      body: { amount: "{{amount}}", currency: "{{currency}}", probe_id: "{{probeId}}", card_token: tok_probe }
      timeout: 1s
      referencePath: data.id
  budget: { perHour: 100000, perDay: 1000000 }
alerts:
  notifiers:
    pager: { type: pagerduty, routingKey: "\${PD_KEY}", eventsUrl: "${pd.url}", timeoutMs: 1000 }
    hook: { type: webhook, url: "${hook.url}", secret: "\${HOOK_SECRET}" }
  routes: { default: { warning: [hook], page: [pager, hook] } }
  retry: { minDelay: 50ms, maxDelay: 500ms }
checks:
  - { name: payments, stream: payments, quietAfter: 2m, pageAfter: 5m }
  - { name: silent, stream: silent, quietAfter: 3s, pageAfter: 8s }
  - name: cards
    stream: card-auth
    quietAfter: 500ms
    pageAfter: 10m
    probe: { driver: acquirer, amount: 150, currency: eur, timeout: 3s, backoff: { factor: 1, max: 500ms }, budget: { perHour: 100000, perDay: 1000000 } }
`;

interface Replica {
  url: string;
  port: number;
  proc: Proc;
}

async function replica(cfg: string, url: string): Promise<Replica> {
  const port = await freePort();
  const proc = runCli(['serve', '--config', cfg, '--port', String(port)], { QUIETWATCH_STORE_URL: url, PD_KEY, HOOK_SECRET, QUIETWATCH_TOKENS: '' });
  procs.push(proc);
  return { url: `http://127.0.0.1:${port}`, port, proc };
}
async function role(r: Replica): Promise<string | undefined> {
  try {
    const res = await fetch(`${r.url}/readyz`, { signal: AbortSignal.timeout(1000) });
    return ((await res.json()) as { components?: { replica?: { detail?: { role?: string } } } }).components?.replica?.detail?.role;
  } catch {
    return undefined;
  }
}
const postTo = (r: Replica, body: unknown) =>
  fetch(`${r.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(8000) });

beforeAll(async () => {
  cluster = await startPostgres();
  pd = await startPagerDutyContract({ validKeys: [PD_KEY] });
  acq = await ContractAcquirer.start({ stream: 'card-auth' });
  hook = await startWebhookReceiver({ secret: HOOK_SECRET });
  dir = tempDir('qw-faults-');
});
afterEach(async () => {
  for (const p of procs) {
    p.child.kill('SIGCONT');
    p.child.kill('SIGKILL');
  }
  await Promise.all(procs.map((p) => p.exited));
  procs = [];
});
afterAll(async () => {
  await pd?.close();
  await acq?.close();
  await hook?.close();
  cluster?.stop();
});

describe('replicas under faults', () => {
  it('a leader frozen with SIGSTOP past its lease sends nothing and charges nothing after SIGCONT', async () => {
    const url = cluster.createDatabase('sigstop');
    const cfg = join(dir, 'stop.yaml');
    writeFileSync(cfg, yaml());
    const stopAcq = acq.onTransaction((tx: SyntheticTransaction) => {
      setTimeout(() => void Promise.any([a, b].map((r) => postTo(r, [{ stream: 'card-auth', time: tx.time, id: tx.id, attributes: tx.attributes }]))).catch(() => undefined), 100);
    });
    const a = await replica(cfg, url);
    await waitFor(async () => (await role(a)) === 'leader', 60_000, 100);
    const b = await replica(cfg, url);
    await waitFor(async () => (await role(b)) === 'follower', 60_000, 100);
    // a write only the leader may make, sent to the follower: 503 not_leader (not a 500)
    const pause = await fetch(`${b.url}/v1/checks/payments/pause`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(pause.status).toBe(503);
    expect(((await pause.json()) as { error: string }).error).toBe('not_leader');
    // the metric says which replica leads
    const leaderMetric = async (r: Replica) => /quietwatch_component_up\{component="leader"\} (\d)/.exec(await (await fetch(`${r.url}/metrics`)).text())?.[1];
    await waitFor(async () => ((await leaderMetric(a)) === '1' && (await leaderMetric(b)) === '0' ? true : undefined), 20_000, 200);
    // probes every ~0.6 s: freeze the leader at a random moment, most likely with a probe in flight
    await waitFor(() => (acq.charges.length >= 3 ? true : undefined), 30_000, 50);
    await new Promise((r) => setTimeout(r, Math.random() * 600));
    const oldToken = Number(cluster.psql(`SELECT token FROM qw_lease WHERE name = 'leader'`, 'sigstop'));
    a.proc.child.kill('SIGSTOP');
    const tStop = Date.now();
    await waitFor(async () => (await role(b)) === 'leader', 30_000, 50);
    const takeoverMs = Date.now() - tStop;
    await new Promise((r) => setTimeout(r, 1500)); // the new leader works for a while
    const tCont = Date.now();
    a.proc.child.kill('SIGCONT');
    const code = await Promise.race([a.proc.exited, new Promise((r) => setTimeout(() => r('still running'), 15_000))]);
    await new Promise((r) => setTimeout(r, 1000));
    stopAcq();

    // every charge attempt and every outbox claim carries the token it was made under
    const staleClaims = Number(
      cluster.psql(`SELECT count(*) FROM alert_outbox WHERE claimed_token = ${oldToken} AND claimed_at >= ${tCont}`, 'sigstop'),
    );
    const staleAttempts = Number(cluster.psql(`SELECT count(*) FROM probes WHERE fence_token = ${oldToken} AND charged_at >= ${tCont}`, 'sigstop'));
    const oldProbes = new Set(cluster.psql(`SELECT id FROM probes WHERE fence_token = ${oldToken}`, 'sigstop').split('\n').filter(Boolean));
    const chargesAfterCont = acq.charges.filter((c) => c.at >= tCont && oldProbes.has(c.probeId));
    const perProbe = new Map<string, number>();
    for (const c of acq.charges) perProbe.set(c.probeId, (perProbe.get(c.probeId) ?? 0) + 1);
    process.stdout.write(
      `SIGSTOP-FIGURES ${JSON.stringify({ takeoverMs, oldToken, exit: code, staleClaims, staleAttempts, chargesAfterContByOldLeader: chargesAfterCont.length, charges: acq.charges.length, doubleCharged: [...perProbe.values()].filter((v) => v > 1).length })}\n`,
    );
    expect(takeoverMs).toBeLessThan(10_000);
    expect(code).toBe(75); // deposed: it exits for its supervisor to restart it as a follower
    expect(a.proc.lines().some((l) => /lost the leader lease/.test(String(l.msg ?? l.text ?? '')))).toBe(true);
    expect(staleClaims).toBe(0);
    expect(staleAttempts).toBe(0);
    expect(chargesAfterCont).toEqual([]);
    expect([...perProbe.values()].every((v) => v === 1)).toBe(true);
    expect(await role(b)).toBe('leader');
    await waitFor(async () => ((await leaderMetric(b)) === '1' ? true : undefined), 20_000, 200);
  }, 180_000);

  it('a new leader measures silence from the events in the database, not from its own start', async () => {
    const url = cluster.createDatabase('resume');
    const cfg = join(dir, 'resume.yaml');
    writeFileSync(cfg, yaml());
    // a healthy card pipeline, so the only check that may page is the silent one
    const stopAcq = acq.onTransaction((tx: SyntheticTransaction) => {
      setTimeout(() => void Promise.any([a, b].map((r) => postTo(r, [{ stream: 'card-auth', time: tx.time, id: tx.id, attributes: tx.attributes }]))).catch(() => undefined), 100);
    });
    const before = pd.events.length;
    const a = await replica(cfg, url);
    await waitFor(async () => (await role(a)) === 'leader', 60_000, 100);
    const b = await replica(cfg, url);
    await waitFor(async () => (await role(b)) === 'follower', 60_000, 100);
    for (let i = 0; i < 20; i++) {
      expect((await postTo(i % 2 ? a : b, [{ stream: 'silent', id: `s${i}` }])).status).toBe(202);
      await new Promise((r) => setTimeout(r, 100));
    }
    const lastPost = Date.now();
    await new Promise((r) => setTimeout(r, 2000));
    a.proc.child.kill('SIGKILL');
    const tKill = Date.now();
    await waitFor(async () => (await role(b)) === 'leader', 30_000, 50);
    const takeover = Date.now();
    const trigger = await waitFor(() => pd.events.slice(before).find((e) => e.event_action === 'trigger'), 30_000, 50);
    const pagedAt = Date.now();
    stopAcq();
    const state = JSON.parse(cluster.psql(`SELECT state::text FROM check_state WHERE name = 'silent'`, 'resume')) as { lastEventAt: number };
    const downAt = Number(cluster.psql(`SELECT at FROM flips WHERE check_name = 'silent' AND to_status = 'down' ORDER BY id DESC LIMIT 1`, 'resume'));
    const restarted = cluster.psql(`SELECT count(*) FROM flips WHERE check_name = 'silent' AND reason = 'service restarted'`, 'resume');
    process.stdout.write(
      `RESUME-FIGURES ${JSON.stringify({ takeoverMs: takeover - tKill, pageAfterLastEventMs: pagedAt - lastPost, downFlipAfterLastEventMs: downAt - state.lastEventAt, restartFlips: Number(restarted) })}\n`,
    );
    expect(String(trigger.payload?.summary)).toMatch(/^silent/);
    // the page comes at the check's own deadline (8 s after its last event), not 8 s after the takeover
    expect(downAt - state.lastEventAt).toBe(8000);
    expect(pagedAt - lastPost).toBeLessThan(8000 + 2500);
    expect(pagedAt - takeover).toBeLessThan(8000);
    expect(Number(restarted)).toBe(0);
  }, 180_000);

  it(`PostgreSQL stopped for ${DOWN_MS / 1000} s under load: 503 with a reason, nothing accepted lost, a leader again without restarting the follower`, async () => {
    const url = cluster.createDatabase('pgdown');
    const cfg = join(dir, 'down.yaml');
    writeFileSync(cfg, yaml());
    const a = await replica(cfg, url);
    await waitFor(async () => (await role(a)) === 'leader', 60_000, 100);
    const b = await replica(cfg, url);
    await waitFor(async () => (await role(b)) === 'follower', 60_000, 100);
    cluster.psql(
      `CREATE TABLE test_applied (event_id TEXT); ALTER TABLE test_applied OWNER TO quietwatch;
       CREATE FUNCTION test_log_applied() RETURNS trigger AS $$ BEGIN INSERT INTO test_applied SELECT e->>'id' FROM json_array_elements(OLD.events) e; RETURN OLD; END $$ LANGUAGE plpgsql;
       CREATE TRIGGER test_applied AFTER DELETE ON ingest_batches FOR EACH ROW EXECUTE FUNCTION test_log_applied();`,
      'pgdown',
    );
    const accepted = new Set<string>();
    const statuses = new Map<number, number>();
    const reasons = new Set<string>();
    let during202 = 0;
    let down = false;
    let n = 0;
    let posting = true;
    const pump = (async () => {
      while (posting) {
        const id = `e${++n}`;
        const r = n % 2 ? a : b;
        // a request sent before the stop may commit and be answered after it: only requests sent
        // while the database was already down must never be accepted
        const sentWhileDown = down;
        try {
          const res = await postTo(r, [{ stream: 'payments', id }]);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.status === 202) {
            accepted.add(id);
            if (sentWhileDown && down) during202++;
          } else if (res.status === 503) {
            const body = (await res.json()) as { error?: string; reason?: string; detail?: string };
            reasons.add(`${body.error}/${body.reason}`);
            expect(JSON.stringify(body)).not.toContain(cluster.password);
          }
        } catch {
          statuses.set(0, (statuses.get(0) ?? 0) + 1);
        }
        await new Promise((res) => setTimeout(res, 50));
      }
    })();
    await new Promise((r) => setTimeout(r, 2000));
    cluster.stopCluster();
    down = true;
    await new Promise((r) => setTimeout(r, DOWN_MS));
    down = false;
    cluster.startCluster();
    const tBack = Date.now();
    // b never restarts: it was a follower, keeps trying, and one replica leads again
    const leader = await waitFor(async () => ((await role(b)) === 'leader' ? b : (await role(a)) === 'leader' ? a : undefined), 30_000, 100);
    const recoveredMs = Date.now() - tBack;
    await new Promise((r) => setTimeout(r, 2000));
    posting = false;
    await pump;
    await waitFor(() => (Number(cluster.psql('SELECT count(*) FROM ingest_batches', 'pgdown')) === 0 ? true : undefined), 20_000, 200);
    const applied = new Set(cluster.psql('SELECT DISTINCT event_id FROM test_applied', 'pgdown').split('\n').filter(Boolean));
    const lost = [...accepted].filter((id) => !applied.has(id));
    const aExit = a.proc.child.exitCode;
    // While the database was gone, on-call was told so through the fallback route (here the default
    // page route), one PagerDuty incident for both replicas, resolved once it was back.
    const lostPage = pd.events.find((e) => e.event_action === 'trigger' && /quietwatch has lost its store/.test(e.payload?.summary ?? ''));
    expect(lostPage, 'the lost-store page').toBeDefined();
    expect(new Set(pd.events.filter((e) => /lost its store/.test(e.payload?.summary ?? '')).map((e) => e.dedup_key)).size).toBe(1);
    await waitFor(() => (pd.events.some((e) => e.event_action === 'resolve' && e.dedup_key === lostPage!.dedup_key) ? true : undefined), 20_000, 200);
    process.stdout.write(
      `PGDOWN-FIGURES ${JSON.stringify({ downMs: DOWN_MS, statuses: Object.fromEntries(statuses), reasons: [...reasons], accepted: accepted.size, acceptedWhileDown: during202, lost: lost.length, recoveredMs, leader: leader === b ? 'b (the follower, never restarted)' : 'a', oldLeaderExit: aExit })}\n`,
    );
    expect(during202).toBe(0);
    expect(statuses.get(503) ?? 0).toBeGreaterThan(10);
    expect([...reasons]).toContain('unavailable/STORE_UNAVAILABLE');
    expect(lost).toEqual([]);
    expect(b.proc.child.exitCode).toBeNull();
    expect(recoveredMs).toBeLessThan(15_000);
  }, 300_000);
});
