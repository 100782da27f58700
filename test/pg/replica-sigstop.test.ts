/**
 * Two real `quietwatch serve` processes on one PostgreSQL: the leader frozen with SIGSTOP past its
 * lease, then SIGCONT. The follower has taken over, and the old leader sends nothing and charges
 * nothing with its stale token (every outbox claim and charge attempt carries the token it was made
 * under, counted in the database), and exits 75 (deposed) for its supervisor to restart it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/process.ts';
import { commonYaml, pipeProbes, Replicas, role, settle, startEnv, TEST_LEASE_TTL, type Env } from './harness.ts';

let env: Env;
const replicas = new Replicas();
beforeAll(async () => {
  env = await startEnv('qw-sigstop-');
});
afterAll(async () => {
  await replicas.killAll();
  await env?.close();
});

const yaml = () => `
store: { leaseTtl: ${TEST_LEASE_TTL} }
${commonYaml(env)}
checks:
  - { name: payments, stream: payments, quietAfter: 2m, pageAfter: 5m }
  - name: cards
    stream: card-auth
    quietAfter: 500ms
    pageAfter: 10m
    probe: { driver: acquirer, amount: 150, currency: eur, timeout: 3s, backoff: { factor: 1, max: 500ms }, budget: { perHour: 100000, perDay: 1000000 } }
`;

describe('a leader frozen past its lease', () => {
  it('sends nothing and charges nothing after SIGCONT, and the metric follows the handover', () =>
    replicas.explain(async () => {
      const { cluster, acq } = env;
      const url = cluster.url;
      const cfg = join(env.dir, 'stop.yaml');
      writeFileSync(cfg, yaml());
      const first = await replicas.start('a', cfg, url);
      await waitFor(async () => (await role(first)) === 'leader', 60_000, 50);
      const second = await replicas.start('b', cfg, url);
      const stopAcq = pipeProbes(env, () => [first, second]);
      const [a, b] = await settle(first, second);
      // a write only the leader may make, sent to the follower: 503 not_leader (not a 500)
      const pause = await fetch(`${b.url}/v1/checks/payments/pause`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(pause.status).toBe(503);
      expect(((await pause.json()) as { error: string }).error).toBe('not_leader');
      // the metric says which replica leads
      const leaderMetric = async (r: { url: string }) => /quietwatch_component_up\{component="leader"\} (\d)/.exec(await (await fetch(`${r.url}/metrics`)).text())?.[1];
      await waitFor(async () => ((await leaderMetric(a)) === '1' && (await leaderMetric(b)) === '0' ? true : undefined), 20_000, 100);
      // probes every ~0.6 s: freeze the leader at a random moment, most likely with a probe in flight
      await waitFor(() => (acq.charges.length >= 3 ? true : undefined), 60_000, 50);
      await new Promise((r) => setTimeout(r, Math.random() * 600));
      const oldToken = Number(cluster.psql(`SELECT token FROM qw_lease WHERE name = 'leader'`, 'quietwatch'));
      a.proc.child.kill('SIGSTOP');
      const tStop = Date.now();
      await waitFor(async () => (await role(b)) === 'leader', 30_000, 25);
      const takeoverMs = Date.now() - tStop;
      // the new leader works for a while: it charges under its own token
      await waitFor(() => (Number(cluster.psql(`SELECT count(*) FROM probes WHERE fence_token > ${oldToken} AND charged_at IS NOT NULL`, 'quietwatch')) >= 2 ? true : undefined), 20_000, 100);
      const tCont = Date.now();
      a.proc.child.kill('SIGCONT');
      const code = await Promise.race([a.proc.exited, new Promise((r) => setTimeout(() => r('still running'), 15_000))]);
      await new Promise((r) => setTimeout(r, 200)); // a request it sent just before exiting reaches the contract servers
      stopAcq();

      const staleClaims = Number(cluster.psql(`SELECT count(*) FROM alert_outbox WHERE claimed_token = ${oldToken} AND claimed_at >= ${tCont}`, 'quietwatch'));
      const staleAttempts = Number(cluster.psql(`SELECT count(*) FROM probes WHERE fence_token = ${oldToken} AND charged_at >= ${tCont}`, 'quietwatch'));
      const oldProbes = new Set(cluster.psql(`SELECT id FROM probes WHERE fence_token = ${oldToken}`, 'quietwatch').split('\n').filter(Boolean));
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
      await waitFor(async () => ((await leaderMetric(b)) === '1' ? true : undefined), 20_000, 100);
    }), 120_000);
});
