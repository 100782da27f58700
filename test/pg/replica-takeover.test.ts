/**
 * A takeover between two real `quietwatch serve` processes on one PostgreSQL (the leader SIGKILLed):
 *  - the new leader measures silence from the events in the database, not from its own start: a
 *    check whose last event came 2 s before the kill pages at its own deadline, not pageAfter after
 *    the takeover, and takes no restart rule;
 *  - it leads with the learned models the old leader saved after this replica started, not with
 *    those it loaded at its own start (reloaded at the election);
 *  - the board of each replica shows which replica leads, before and after.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specFor } from '../../src/checks/spec.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { LearnedLimits } from '../../src/learn/model.ts';
import { waitFor } from '../helpers/process.ts';
import { commonYaml, HOOK_SECRET, PD_KEY, pipeProbes, postTo, Replicas, role, settle, startEnv, TEST_LEASE_TTL, type Env } from './harness.ts';

let env: Env;
const replicas = new Replicas();
beforeAll(async () => {
  env = await startEnv('qw-takeover-');
});
afterAll(async () => {
  await replicas.killAll();
  await env?.close();
});

const yaml = () => `
store: { leaseTtl: ${TEST_LEASE_TTL} }
${commonYaml(env)}
checks:
  - { name: silent, stream: silent, quietAfter: 3s, pageAfter: 8s }
  - { name: learned, stream: learned, quietAfter: auto, pageAfter: auto, learn: { min: 1m, max: 2h } }
  - name: cards
    stream: card-auth
    quietAfter: 500ms
    pageAfter: 10m
    probe: { driver: acquirer, amount: 150, currency: eur, timeout: 3s, backoff: { factor: 1, max: 500ms }, budget: { perHour: 100000, perDay: 1000000 } }
`;

/** A model that has learned one event a second, every hour of the week, for two weeks (what a leader saves after a while). */
function learnedModel(text: string, now: number): unknown {
  const c = parseConfig(text, 'replica.yaml', { ...process.env, PD_KEY, HOOK_SECRET, QUIETWATCH_TOKENS: '' }).checks.find((x) => x.name === 'learned')!;
  const limits = specFor(c).limits as LearnedLimits;
  const B = 300_000;
  const start = Math.floor((now - 14 * 86_400_000) / B) * B;
  limits.seed(Array.from({ length: 14 * 288 }, (_, i) => ({ start: start + i * B, count: 300, bucketMs: B })));
  expect(limits.learned()).toBe(true);
  return limits.toJSON();
}

interface CheckView {
  limits: { source: string; expectedPerMinute?: number };
}
const check = async (r: { url: string }, name: string) => (await (await fetch(`${r.url}/v1/checks/${name}`)).json()) as CheckView;
const board = async (r: { url: string }) => ((await (await fetch(`${r.url}/v1/board`)).json()) as { replica?: { self: string; role: string; leader: string | null } }).replica;

describe('a takeover', () => {
  it('measures silence from the events in the database, leads with the models the old leader saved, and the boards show the new leader', () =>
    replicas.explain(async () => {
      const { cluster, pd } = env;
      const url = cluster.url;
      const cfg = join(env.dir, 'takeover.yaml');
      const text = yaml();
      writeFileSync(cfg, text);
      const before = pd.events.length;
      const first = await replicas.start('a', cfg, url);
      await waitFor(async () => (await role(first)) === 'leader', 60_000, 50);
      const second = await replicas.start('b', cfg, url);
      // a healthy card pipeline, so the only check that may page is the silent one
      const stopAcq = pipeProbes(env, () => [first, second]);
      const [a, b] = await settle(first, second);
      const holderA = cluster.psql(`SELECT holder FROM qw_lease WHERE name = 'leader'`, 'quietwatch');

      // Both boards say a leads.
      await waitFor(async () => ((await board(b))?.leader === holderA ? true : undefined), 10_000, 100);
      expect(await board(a)).toEqual({ self: holderA, role: 'leader', leader: holderA });
      const boardB = (await board(b))!;
      expect(boardB).toMatchObject({ role: 'follower', leader: holderA });
      expect(boardB.self).not.toBe(holderA);

      // The leader saves a learned model after b started (as it does every minute); b loaded none at its start.
      const state = learnedModel(text, Date.now());
      cluster.psql(`INSERT INTO learn_models (check_name, version, state, saved_at) VALUES ('learned', 1, $qw$${JSON.stringify(state)}$qw$::jsonb, ${Date.now()})
        ON CONFLICT (check_name) DO UPDATE SET state = excluded.state, saved_at = excluded.saved_at`, 'quietwatch');
      expect((await check(b, 'learned')).limits.source).toBe('bounds');

      const firstPost = Date.now();
      for (let i = 0; i < 20; i++) {
        expect((await postTo(i % 2 ? a : b, [{ stream: 'silent', id: `s${i}` }])).status).toBe(202);
        await new Promise((r) => setTimeout(r, 100));
      }
      const lastPost = Date.now();
      // A page before this is not the one this is about: a check that never had an event pages pageAfter
      // after the first leader's start (the restart rule), which a slow start-up of the two replicas reaches.
      const pagesBefore = pd.events.length;
      await new Promise((r) => setTimeout(r, 2000));
      a.proc.child.kill('SIGKILL');
      const tKill = Date.now();
      await waitFor(async () => (await role(b)) === 'leader', 30_000, 25);
      const takeover = Date.now();

      // The new leader's learned limits are the saved model's (one event a second), not its own start's.
      const learned = await waitFor(async () => {
        const v = await check(b, 'learned');
        return v.limits.source === 'learned' ? v : undefined;
      }, 5_000, 50);
      expect(learned.limits.expectedPerMinute).toBeGreaterThan(50);
      expect(learned.limits.expectedPerMinute).toBeLessThan(70);
      expect(b.proc.lines().some((l) => /learned models reloaded/.test(String(l.msg ?? '')))).toBe(true);
      // b's board says b leads.
      await waitFor(async () => ((await board(b))?.role === 'leader' ? true : undefined), 5_000, 100);
      expect(await board(b)).toEqual({ self: boardB.self, role: 'leader', leader: boardB.self });

      // the silent check's incident opened after the posting: on a slow start the restart rule pages
      // checks that never had an event before the posting, and that incident's page, its repeated
      // triggers (updates, same dedup_key) and its late delivery are not this one
      const trigger = await waitFor(() => {
        const silent = pd.events.slice(before).filter((e) => e.event_action === 'trigger' && String(e.payload?.summary).startsWith('silent'));
        if (!silent.length) return undefined; // psql only once there is a candidate
        const earlier = cluster.psql(`SELECT id FROM alert_incidents WHERE opened_at < ${firstPost}`, 'quietwatch').split('\n').filter(Boolean);
        return silent.find((e) => !earlier.some((id) => String(e.dedup_key).includes(id)));
      }, 30_000, 100);
      const pagedAt = Date.now();
      stopAcq();
      const st = JSON.parse(cluster.psql(`SELECT state::text FROM check_state WHERE name = 'silent'`, 'quietwatch')) as { lastEventAt: number };
      const downAt = Number(cluster.psql(`SELECT at FROM flips WHERE check_name = 'silent' AND to_status = 'down' ORDER BY id DESC LIMIT 1`, 'quietwatch'));
      const restarted = cluster.psql(`SELECT count(*) FROM flips WHERE check_name = 'silent' AND reason = 'service restarted'`, 'quietwatch');
      const flips = cluster.psql(`SELECT from_status || '>' || to_status || '@' || (at - ${firstPost}) || ' ' || left(reason, 60) FROM flips WHERE check_name = 'silent' ORDER BY id`, 'quietwatch').split('\n');
      process.stdout.write(
        `TAKEOVER-FIGURES ${JSON.stringify({ pagesBeforeTheKill: pd.events.slice(before, pagesBefore).filter((e) => e.event_action === 'trigger').length, postingMs: lastPost - firstPost, silentFlipsSinceFirstPost: flips, takeoverMs: takeover - tKill, pageAfterLastEventMs: pagedAt - lastPost, downFlipAfterLastEventMs: downAt - st.lastEventAt, restartFlips: Number(restarted), learnedExpectedPerMinute: learned.limits.expectedPerMinute })}\n`,
      );
      expect(String(trigger.payload?.summary)).toMatch(/^silent/);
      // the page comes at the check's own deadline (8 s after its last event), not 8 s after the takeover
      expect(downAt - st.lastEventAt).toBe(8000);
      expect(pagedAt - lastPost).toBeLessThan(8000 + 2500);
      expect(pagedAt - takeover).toBeLessThan(8000);
      expect(Number(restarted)).toBe(0);
    }), 120_000);
});
