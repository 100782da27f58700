/**
 * Two real `quietwatch serve` processes on one PostgreSQL, and PostgreSQL stopped for QW_PG_DOWN_MS
 * (default 60 s) under load: every POST sent while it is down answers 503 with a JSON reason (never
 * 202), nothing accepted is lost, on-call is paged through the fallback route that quietwatch has
 * lost its store (one incident for both replicas, resolved when it is back), and a leader is back
 * without restarting the follower once the database returns.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/process.ts';
import { commonYaml, logApplied, postTo, Replicas, role, settle, startEnv, TEST_LEASE_TTL, type Env } from './harness.ts';

const DOWN_MS = Number(process.env.QW_PG_DOWN_MS ?? 60_000);

let env: Env;
const replicas = new Replicas();
beforeAll(async () => {
  env = await startEnv('qw-pgdown-');
});
afterAll(async () => {
  await replicas.killAll();
  await env?.close();
});

const yaml = () => `
store: { leaseTtl: ${TEST_LEASE_TTL}, lostAfter: 3s }
${commonYaml(env)}
checks:
  - { name: payments, stream: payments, quietAfter: 2m, pageAfter: 5m }
`;

describe('PostgreSQL down', () => {
  it(`for ${DOWN_MS / 1000} s under load: 503 with a reason, nothing accepted lost, the lost-store page, a leader again without restarting the follower`, () =>
    replicas.explain(async () => {
      const { cluster, pd } = env;
      const url = cluster.url;
      const cfg = join(env.dir, 'down.yaml');
      writeFileSync(cfg, yaml());
      const first = await replicas.start('a', cfg, url);
      await waitFor(async () => (await role(first)) === 'leader', 60_000, 50);
      const [a, b] = await settle(first, await replicas.start('b', cfg, url));
      const applied = logApplied(cluster, 'quietwatch');
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
      await waitFor(() => (accepted.size >= 10 ? true : undefined), 10_000, 20);
      cluster.stopCluster();
      down = true;
      await new Promise((r) => setTimeout(r, DOWN_MS));
      down = false;
      cluster.startCluster();
      const tBack = Date.now();
      // b never restarts: it was a follower, keeps trying, and one replica leads again
      const leader = await waitFor(async () => ((await role(b)) === 'leader' ? b : (await role(a)) === 'leader' ? a : undefined), 30_000, 50);
      const recoveredMs = Date.now() - tBack;
      const acceptedBack = accepted.size;
      await waitFor(() => (accepted.size >= acceptedBack + 10 ? true : undefined), 10_000, 20);
      posting = false;
      await pump;
      await waitFor(() => (Number(cluster.psql('SELECT count(*) FROM ingest_batches', 'quietwatch')) === 0 ? true : undefined), 20_000, 100);
      const seen = applied();
      const lost = [...accepted].filter((id) => !seen.has(id));
      const aExit = a.proc.child.exitCode;
      // While the database was gone, on-call was told so through the fallback route (here the default
      // page route), one PagerDuty incident for both replicas, resolved once it was back.
      const lostPage = pd.events.find((e) => e.event_action === 'trigger' && /quietwatch has lost its store/.test(e.payload?.summary ?? ''));
      expect(lostPage, 'the lost-store page').toBeDefined();
      expect(new Set(pd.events.filter((e) => /lost its store/.test(e.payload?.summary ?? '')).map((e) => e.dedup_key)).size).toBe(1);
      await waitFor(() => (pd.events.some((e) => e.event_action === 'resolve' && e.dedup_key === lostPage!.dedup_key) ? true : undefined), 20_000, 100);
      process.stdout.write(
        `PGDOWN-FIGURES ${JSON.stringify({ downMs: DOWN_MS, statuses: Object.fromEntries(statuses), reasons: [...reasons], accepted: accepted.size, acceptedWhileDown: during202, lost: lost.length, recoveredMs, leader: leader === b ? 'b (the follower, never restarted)' : 'a', oldLeaderExit: aExit })}\n`,
      );
      expect(during202).toBe(0);
      expect(statuses.get(503) ?? 0).toBeGreaterThan(10);
      expect([...reasons]).toContain('unavailable/STORE_UNAVAILABLE');
      expect(lost).toEqual([]);
      expect(b.proc.child.exitCode).toBeNull();
      expect(recoveredMs).toBeLessThan(15_000);
    }), 180_000);
});
