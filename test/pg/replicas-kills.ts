/**
 * The HA kill test, registered by replicas-a.test.ts and replicas-b.test.ts: two pairs of replicas on
 * their own PostgreSQL clusters, QW_KILLS (default 20) kills split between them so the two run side
 * by side (one pair took 135 s of a 150 s suite on two cores for 20 kills in a row).
 *
 * Two real `quietwatch serve` processes on one PostgreSQL, PagerDuty and the acquirer as contract
 * servers, events posted to both alternately (a replica that does not answer 202 is skipped, like a
 * load balancer would). N times the leader is SIGKILLed at a random moment —
 * often mid-probe or mid-page — and restarted at once (as a supervisor would), becoming the follower
 * (or, if it is back first, the leader). A replica that exits by itself (a deposed leader exits 75)
 * is restarted the same way. The lease is TEST_LEASE_TTL (2.5 s), so a takeover takes about that long. Figures (printed as one JSON line
 * `HA-FIGURES …`): takeover time (p50/p99/max), accepted events lost, incidents opened twice, pages
 * lost, charges made twice for one probe, false pages.
 *
 * "Lost" is measured in the database: a test-only trigger logs every relayed event when the leader's
 * DELETE … RETURNING of its batch commits (which happens only after the batch was applied to the checks).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SyntheticTransaction } from '../contract/acquirer.ts';
import { freePort, runCli, waitFor, type Proc } from '../helpers/process.ts';
import { commonYaml, dumpLogs, HOOK_SECRET, logApplied, PD_KEY, startEnv, TEST_LEASE_TTL, type Env } from './harness.ts';

interface Replica {
  name: string;
  port: number;
  url: string;
  proc?: Proc;
}

/** Register the test: `kills` SIGKILLs of the leader of one pair of replicas (`label` names the pair in its figures). */
export function registerReplicaKills(kills: number, label: string): void {
  let env: Env;
  let dbUrl: string;
  const replicas: Replica[] = [];

  const config = () => `
store: { leaseTtl: ${TEST_LEASE_TTL} }
${commonYaml(env, { reverse: true })}
checks:
  - { name: payments, stream: payments, quietAfter: 4s, pageAfter: 8s }
  - { name: dead, stream: dead, quietAfter: 1s, pageAfter: 2s }
  - name: cards
    stream: card-auth
    quietAfter: 1s
    pageAfter: 60s
    probe:
      driver: acquirer
      amount: 150
      currency: eur
      timeout: 3s
      backoff: { factor: 1, max: 1s }
      budget: { perHour: 100000, perDay: 1000000 }
`;

  async function readyz(r: Replica): Promise<{ status: number; role?: string }> {
    const res = await fetch(`${r.url}/readyz`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { components?: { replica?: { detail?: { role?: string } } } };
    return { status: res.status, role: body.components?.replica?.detail?.role };
  }
  const roleOf = (r: Replica) => readyz(r).then((x) => x.role, () => undefined);

  let supervising = true;
  /** Start (or restart) a replica on its port; like a supervisor, restart it whenever it exits by itself. */
  function start(r: Replica, cfg: string): void {
    const proc = runCli(['serve', '--config', cfg, '--port', String(r.port)], { QUIETWATCH_STORE_URL: dbUrl, PD_KEY, HOOK_SECRET, QUIETWATCH_TOKENS: '' });
    r.proc = proc;
    void proc.exited.then((code) => {
      if (!supervising || r.proc !== proc || proc.child.signalCode === 'SIGKILL') return;
      // why it exited (a replica that cannot start says so in its last lines)
      const last = proc.lines().slice(-3).map((l) => String(l.msg ?? l.text ?? JSON.stringify(l)).slice(0, 160));
      selfExits.push({ replica: r.name, code, last });
      start(r, cfg);
    });
  }
  const selfExits: Array<{ replica: string; code: number | null; last: string[] }> = [];

  beforeAll(async () => {
    env = await startEnv('qw-replicas-');
    dbUrl = env.cluster.url;
    for (const name of ['a', 'b']) {
      const port = await freePort();
      replicas.push({ name, port, url: `http://127.0.0.1:${port}` });
    }
  });

  afterAll(async () => {
    supervising = false;
    for (const r of replicas) r.proc?.child.kill('SIGKILL');
    await Promise.all(replicas.map((r) => r.proc?.exited));
    await env?.close();
  });

  describe(`two replicas on one PostgreSQL (${label})`, () => {
    it(`survive ${kills} SIGKILLs of the leader: no accepted event lost, no double incident, page or charge, no false page`, async () => {
      const { cluster, pd, acq } = env;
      const cfg = join(env.dir, 'qw.yaml');
      writeFileSync(cfg, config());
      const [a, b] = replicas as [Replica, Replica];
      // the pipeline: real payments every 50 ms, alternately to each replica; probe transactions 100 ms after each charge
      const accepted = new Set<string>();
      let refused = 0;
      let n = 0;
      let posting = true;
      let logging = false; // events accepted before the test's trigger exists are not counted
      const post = async (body: unknown[]) => {
        for (let i = 0; i < 2; i++) {
          const r = replicas[(n + i) % 2]!;
          try {
            const res = await fetch(`${r.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(3000) });
            if (res.status === 202) return true;
            refused++;
          } catch {
            refused++;
          }
        }
        return false;
      };
      // a real pipeline retries delivery: the probe transaction is offered for up to 2 s
      let txDropped = 0;
      let txPending = 0;
      acq.onTransaction((tx: SyntheticTransaction) => {
        txPending++;
        setTimeout(async () => {
          try {
            for (const end = Date.now() + 2000; posting && Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
              if (await post([{ stream: 'card-auth', time: tx.time, id: tx.id, attributes: tx.attributes }])) {
                if (logging) accepted.add(tx.id);
                return;
              }
            }
            if (posting) txDropped++;
          } finally {
            txPending--;
          }
        }, 100);
      });
      start(a, cfg);
      await waitFor(async () => (await roleOf(a)) === 'leader', 60_000, 50);
      // test-only: log every relayed event whose batch the leader applied (its DELETE committed)
      const appliedIds = logApplied(cluster, 'quietwatch');
      logging = true;

      const pump = (async () => {
        while (posting) {
          const id = `e${++n}`;
          if (await post([{ stream: 'payments', id, attributes: { scheme: 'visa' } }])) accepted.add(id);
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      start(b, cfg);
      const settled = async () => {
        const [ra, rb] = await Promise.all([roleOf(a), roleOf(b)]);
        return (ra === 'leader' && rb === 'follower') || (rb === 'leader' && ra === 'follower') ? true : undefined;
      };
      await waitFor(settled, 60_000, 50);

      // the dead check pages once, through the first leader
      await waitFor(() => pd.events.some((e) => e.event_action === 'trigger' && String(e.payload?.summary).startsWith('dead')), 30_000, 100);

      const takeovers: number[] = [];
      let chargesAtTakeover = acq.charges.length;
      for (let k = 0; k < kills; k++) {
        const leader = await waitFor(async () => ((await roleOf(a)) === 'leader' ? a : (await roleOf(b)) === 'leader' ? b : undefined), 30_000, 100);
        const other = leader === a ? b : a;
        await waitFor(async () => (await roleOf(other)) === 'follower', 60_000, 100).catch((err) => {
          dumpLogs(replicas, 12);
          throw err;
        });
        // the leader is probing (one charge since it took over: on a fast machine the restarted replica
        // is back before the first one), then a random moment within a probe's cycle (about a second)
        await waitFor(() => (acq.charges.length > chargesAtTakeover ? true : undefined), 30_000, 20);
        await new Promise((r) => setTimeout(r, Math.random() * 1200));
        const t0 = Date.now();
        const killed = leader.proc!;
        killed.child.kill('SIGKILL');
        await killed.exited;
        // restarted at once, like a supervisor would: it boots while the other takes over
        start(leader, cfg);
        await waitFor(async () => ((await roleOf(other)) === 'leader' || (await roleOf(leader)) === 'leader' ? true : undefined), 30_000, 50);
        takeovers.push(Date.now() - t0);
        chargesAtTakeover = acq.charges.length;
      }
      await waitFor(async () => (await roleOf(a)) !== undefined && (await roleOf(b)) !== undefined, 60_000, 50);
      posting = false;
      await pump;
      await waitFor(() => (txPending === 0 ? true : undefined), 5_000, 20); // the last probe transactions
      const dump = () => dumpLogs(replicas);
      const backlog = await waitFor(() => (Number(cluster.psql('SELECT count(*) FROM ingest_batches', 'quietwatch')) === 0 ? true : undefined), 20_000, 100).catch((err) => (dump(), Promise.reject(err)));
      expect(backlog).toBe(true);

      const applied = appliedIds();
      const lost = [...accepted].filter((id) => !applied.has(id));
      const deadIncidents = Number(cluster.psql(`SELECT count(*) FROM alert_incidents WHERE check_name = 'dead'`, 'quietwatch'));
      const otherIncidents = Number(cluster.psql(`SELECT count(*) FROM alert_incidents WHERE check_name <> 'dead'`, 'quietwatch'));
      const deadAlerts = [...pd.alerts.values()].filter((al) => pd.events.some((e) => e.dedup_key === al.dedupKey && String(e.payload?.summary).startsWith('dead')));
      const falsePages = pd.events.filter((e) => e.event_action === 'trigger' && !String(e.payload?.summary).startsWith('dead')).length;
      const perProbe = new Map<string, number>();
      for (const c of acq.charges) perProbe.set(c.probeId, (perProbe.get(c.probeId) ?? 0) + 1);
      const doubleCharges = [...perProbe.values()].filter((v) => v > 1).length;
      const sorted = [...takeovers].sort((x, y) => x - y);
      const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
      const figures = {
        kills: kills,
        selfExits,
        takeoverMs: { p50: pct(50), p99: pct(99), max: sorted.at(-1) },
        acceptedEvents: accepted.size,
        refusedAttempts: refused,
        probeTransactionsDropped: txDropped,
        eventsLost: lost.length,
        incidentsOpenedTwice: Math.max(0, deadIncidents - 1) + otherIncidents,
        pagesLost: deadAlerts.length >= 1 ? 0 : 1,
        pdAlertsForDead: deadAlerts.length,
        pdOpenedForDead: deadAlerts.reduce((s, al) => s + al.opened, 0),
        charges: acq.charges.length,
        chargesTwiceForOneProbe: doubleCharges,
        falsePages,
        falsePageSummaries: pd.events.filter((e) => e.event_action === 'trigger' && !String(e.payload?.summary).startsWith('dead')).map((e) => String(e.payload?.summary).slice(0, 200)),
      };
      process.stdout.write(`HA-FIGURES ${JSON.stringify({ pair: label, ...figures })}\n`);
      if (process.env.QW_DEBUG) process.stdout.write(cluster.psql(`SELECT check_name, from_status, to_status, at, left(reason, 150) FROM flips ORDER BY id`, 'quietwatch') + '\n' + cluster.psql(`SELECT id, check_name, result, left(coalesce(error,''), 120), attempts FROM probes ORDER BY fired_at`, 'quietwatch') + '\n');
      expect(lost).toEqual([]);
      expect(deadIncidents).toBe(1);
      expect(otherIncidents).toBe(0);
      expect(deadAlerts).toHaveLength(1);
      expect(deadAlerts[0]!.opened).toBe(1);
      expect(doubleCharges).toBe(0);
      expect(falsePages).toBe(0);
      expect(acq.charges.length).toBeGreaterThanOrEqual(kills); // at least one probe charged in every term
      expect(figures.takeoverMs.p99).toBeLessThanOrEqual(10_000);
    }, 900_000);
  });
}
