/**
 * The leader lease and its fencing token against a real PostgreSQL: two contenders, takeover when the
 * lease lapses, and a paused old leader (it stops renewing, as under SIGSTOP) whose claims — sending an
 * outbox row, reserving a probe budget, a charge attempt — are refused once a newer term exists.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresAlertStore } from '../../src/alerts/store-postgres.ts';
import { staticFence } from '../../src/ha/fence.ts';
import { LeaderLease } from '../../src/ha/lease.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { checkProbeSchema } from '../../src/probes/config.ts';
import { ProbeManager, type ProbeReport } from '../../src/probes/manager.ts';
import type { ProbeRecord } from '../../src/probes/store.ts';
import { PostgresProbeStore } from '../../src/probes/store-postgres.ts';
import type { ChargeRequest, ChargeResult, ProbeDriver } from '../../src/probes/types.ts';
import { migrate } from '../../src/store/pg-migrate.ts';
import { PgPool } from '../../src/store/pg-pool.ts';
import { startPostgres, type PgCluster } from '../helpers/postgres.ts';

const T0 = Date.UTC(2026, 10, 29, 12, 0, 0);
let cluster: PgCluster;
let db = 0;
beforeAll(async () => {
  cluster = await startPostgres();
});
afterAll(() => cluster?.stop());

async function freshPool(): Promise<PgPool> {
  const p = new PgPool({ url: cluster.createDatabase(`lease${++db}`) });
  await migrate(p);
  return p;
}

const probe = (id: string, over: Partial<ProbeRecord> = {}): ProbeRecord => ({
  id,
  check: 'card-auth',
  reason: 'quiet',
  driver: 'd',
  idempotencyKey: `key-${id}`,
  firedAt: T0,
  deadline: T0 + 120_000,
  result: 'pending',
  costMinor: 100,
  currency: 'eur',
  attempts: 0,
  ...over,
});

const limits = (n: number, since: number) => [{ scope: 'global' as const, window: 'hour' as const, limit: n, since }];

describe('leader lease', () => {
  it('gives the lease to exactly one of two contenders; the other takes over with a higher token only after it lapses', async () => {
    const pool = await freshPool();
    const clock = new ManualClock(T0);
    const a = new LeaderLease({ db: pool, holder: 'a', ttlMs: 10_000, clock });
    const b = new LeaderLease({ db: pool, holder: 'b', ttlMs: 10_000, clock });
    const events: string[] = [];
    a.on('elected', (t) => events.push(`a elected ${t}`)).on('deposed', (r) => events.push(`a deposed: ${r}`));
    b.on('elected', (t) => events.push(`b elected ${t}`)).on('deposed', (r) => events.push(`b deposed: ${r}`));
    try {
      await Promise.all([a.tick(), b.tick()]);
      expect([a.isLeader(), b.isLeader()].filter(Boolean)).toHaveLength(1);
      const [leader, follower] = a.isLeader() ? [a, b] : [b, a];
      expect(leader.token()).toBe(1);
      expect(follower.token()).toBeUndefined();
      expect((await follower.current())?.holder).toBe(leader.holder);

      // the leader renews; the follower keeps trying and fails while the lease is fresh
      for (let i = 0; i < 5; i++) {
        clock.advance(3000);
        await leader.tick();
        await follower.tick();
        expect(leader.isLeader()).toBe(true);
        expect(follower.isLeader()).toBe(false);
      }
      // the leader stops renewing (paused). At 8 s (ttl - margin) it no longer believes it leads...
      clock.advance(8000);
      expect(leader.isLeader()).toBe(false);
      // ...but nobody may take over before the lease itself has lapsed (10 s after the last renewal)
      clock.advance(1999);
      await follower.tick();
      expect(follower.isLeader()).toBe(false);
      clock.advance(1);
      await follower.tick();
      expect(follower.isLeader()).toBe(true);
      expect(follower.token()).toBe(2);
      // the old leader wakes up: its renewal is refused, and it does not get the lease back
      await leader.tick();
      expect(leader.isLeader()).toBe(false);
      expect((await leader.current())?.holder).toBe(follower.holder);
      expect(events).toEqual([`${leader.holder} elected 1`, `${leader.holder} deposed: lease lapsed before it could be renewed`, `${follower.holder} elected 2`]);
    } finally {
      await pool.end();
    }
  });

  it('hands over at once on release (graceful shutdown), and the token never goes back', async () => {
    const pool = await freshPool();
    const clock = new ManualClock(T0);
    const a = new LeaderLease({ db: pool, holder: 'a', ttlMs: 10_000, clock });
    const b = new LeaderLease({ db: pool, holder: 'b', ttlMs: 10_000, clock });
    try {
      const tokens: number[] = [];
      for (let i = 0; i < 4; i++) {
        const [x, y] = i % 2 === 0 ? [a, b] : [b, a];
        await x.tick();
        expect(x.isLeader()).toBe(true);
        tokens.push(x.token()!);
        await y.tick();
        expect(y.isLeader()).toBe(false);
        await x.release();
        expect(x.isLeader()).toBe(false);
        clock.advance(1);
      }
      expect(tokens).toEqual([1, 2, 3, 4]);
    } finally {
      await pool.end();
    }
  });

  it('uses the database clock when no clock is injected, and steps down by itself when the database is gone', async () => {
    const pool = await freshPool();
    const a = new LeaderLease({ db: pool, holder: 'a', ttlMs: 1500, everyMs: 300, marginMs: 300 });
    const deposed = new Promise<string>((r) => a.once('deposed', r));
    try {
      a.start();
      await new Promise<void>((r) => a.once('elected', () => r()));
      expect(a.isLeader()).toBe(true);
      const row = (await a.current())!;
      expect(Math.abs(row.acquiredAt - Date.now())).toBeLessThan(2000);
      expect(row.expiresAt - row.renewedAt).toBe(1500);
      cluster.stopCluster();
      const t0 = Date.now();
      expect(await deposed).toMatch(/lapsed/);
      // it stopped believing it leads within ttl - margin of its last successful renewal
      expect(Date.now() - t0).toBeLessThan(1500);
      expect(a.token()).toBeUndefined();
    } finally {
      cluster.startCluster();
      await a.stop({ release: false });
      await pool.end();
    }
  });
});

  it('a leader frozen inside a fenced write (idle in transaction, the lease row FOR SHARE) does not block the takeover: the server ends its session', async () => {
    const url = cluster.createDatabase(`lease${++db}`);
    const setup = new PgPool({ url });
    await migrate(setup);
    await setup.end();
    const clock = new ManualClock(T0);
    const attempt = async (idleInTransactionTimeoutMs: number | undefined) => {
      // The frozen leader's pool (as createStores builds it: half a lease), the follower's own.
      const frozen = new PgPool({ url, ...(idleInTransactionTimeoutMs ? { idleInTransactionTimeoutMs } : {}) });
      const other = new PgPool({ url, statementTimeoutMs: 2000 });
      const a = new LeaderLease({ db: frozen, holder: 'a', ttlMs: 10_000, clock });
      const b = new LeaderLease({ db: other, holder: 'b', ttlMs: 10_000, clock });
      try {
        await a.tick();
        expect(a.isLeader()).toBe(true);
        const token = a.token()!;
        // a fenced write that took the lease row FOR SHARE, then the process froze (SIGSTOP) before COMMIT
        let unfreeze!: () => void;
        const resumed = new Promise<void>((r) => (unfreeze = r));
        let locked!: () => void;
        const isLocked = new Promise<void>((r) => (locked = r));
        const write = frozen
          .tx(async (c) => {
            await c.query(`SELECT 1 FROM qw_lease WHERE name = 'leader' AND token = $1 FOR SHARE`, [token]);
            locked();
            await resumed;
            await c.query('SELECT 1');
          })
          .then(() => 'committed', (err: Error) => `failed: ${err.message}`);
        await isLocked;
        clock.advance(10_001); // the lease lapses: b may take over
        const t0 = Date.now();
        await b.tick();
        const waited = Date.now() - t0;
        unfreeze(); // SIGCONT: the old leader's write goes on
        return { elected: b.isLeader(), waited, write: await write };
      } finally {
        await b.stop({ release: false });
        await a.stop({ release: false });
        await frozen.end();
        await other.end();
      }
    };
    // Before: the follower's lease query waits on the frozen session's lock until its own statement
    // timeout, and again at every try, for as long as the freeze lasts.
    const before = await attempt(undefined);
    expect(before.elected).toBe(false);
    expect(before.write).toBe('committed');
    // After: the server ends the frozen session after 500 ms; its lock goes with it, the follower
    // takes over, and the old leader's write fails instead of committing.
    const after = await attempt(500);
    expect(after.elected).toBe(true);
    expect(after.waited).toBeLessThan(1900);
    expect(after.write).toMatch(/^failed/);
  });

describe('fencing: a stale leader cannot send or charge', () => {
  it('refuses an outbox claim carrying a superseded token; the new leader claims it', async () => {
    const pool = await freshPool();
    const clock = new ManualClock(T0);
    const old = new LeaderLease({ db: pool, holder: 'old', ttlMs: 10_000, clock });
    const next = new LeaderLease({ db: pool, holder: 'new', ttlMs: 10_000, clock });
    try {
      await old.tick();
      const oldStore = new PostgresAlertStore(pool, { fence: old });
      // the paused replica still "believes" it holds token 1 (it has not run since)
      const pausedStore = new PostgresAlertStore(pool, { fence: staticFence(1, () => clock.now()) });
      const newStore = new PostgresAlertStore(pool, { fence: next });
      const row = (id: string) => ({ id, notifier: 'pd', notification: { id } as never, status: 'pending' as const, nextAttemptAt: T0, createdAt: T0 });
      await oldStore.commit({ insert: [row('n1'), row('n2')] });
      expect(await oldStore.claim('n1')).toBe(true);

      clock.advance(10_000); // old leader paused past its lease
      await next.tick();
      expect(next.token()).toBe(2);
      expect(await pausedStore.claim('n2')).toBe(false); // token 1 superseded: not sent
      expect(await oldStore.claim('n2')).toBe(false); // and the old lease object knows it lapsed
      expect(await newStore.claim('n2')).toBe(true);
      const claimed = await pool.query<{ id: string; claimed_token: number }>('SELECT id, claimed_token FROM alert_outbox ORDER BY id');
      expect(claimed.rows).toEqual([
        { id: 'n1', claimed_token: 1 },
        { id: 'n2', claimed_token: 2 },
      ]);
      // a delivered row is never claimed again
      await newStore.updateOutbox('n2', { status: 'delivered', deliveredAt: clock.now() });
      expect(await newStore.claim('n2')).toBe(false);
    } finally {
      await pool.end();
    }
  });

  it('refuses a stale budget reservation and a stale charge attempt', async () => {
    const pool = await freshPool();
    const clock = new ManualClock(T0);
    const old = new LeaderLease({ db: pool, holder: 'old', ttlMs: 10_000, clock });
    const next = new LeaderLease({ db: pool, holder: 'new', ttlMs: 10_000, clock });
    try {
      await old.tick();
      const stale = new PostgresProbeStore(pool, { fence: staticFence(1, () => clock.now()) });
      expect(await stale.reserve(probe('p1'), limits(10, T0 - 1), clock.now())).toEqual({ kind: 'reserved' });
      await stale.claimAttempt('p1', { attempts: 1, chargedAt: clock.now() });

      clock.advance(10_001);
      await next.tick();
      await expect(stale.reserve(probe('p2', { check: 'other' }), limits(10, T0 - 1), clock.now())).rejects.toMatchObject({ code: 'LEASE_LOST' });
      await expect(stale.claimAttempt('p1', { attempts: 2, chargedAt: clock.now() })).rejects.toMatchObject({ code: 'LEASE_LOST' });
      const rows = await pool.query<{ id: string; attempts: number; fence_token: number }>('SELECT id, attempts, fence_token FROM probes ORDER BY id');
      expect(rows.rows).toEqual([{ id: 'p1', attempts: 1, fence_token: 1 }]); // p2 never stored: no budget used

      const fresh = new PostgresProbeStore(pool, { fence: next });
      await fresh.claimAttempt('p1', { attempts: 2, chargedAt: clock.now() });
      expect((await fresh.get('p1'))?.attempts).toBe(2);
    } finally {
      await pool.end();
    }
  });

  it('a paused leader resumed after a takeover charges nothing through the ProbeManager', async () => {
    const pool = await freshPool();
    const clock = new ManualClock(T0);
    const old = new LeaderLease({ db: pool, holder: 'old', ttlMs: 10_000, clock });
    const next = new LeaderLease({ db: pool, holder: 'new', ttlMs: 10_000, clock });
    const charges: ChargeRequest[] = [];
    const driver = {
      kind: 'http',
      async charge(req: ChargeRequest): Promise<ChargeResult> {
        charges.push(req);
        return { outcome: 'accepted', reference: `ref_${charges.length}` };
      },
    } as ProbeDriver;
    const reports: ProbeReport[] = [];
    const o = checkProbeSchema.parse({ driver: 'd', amount: 100, currency: 'eur', timeout: '2m' });
    try {
      await old.tick();
      // the old leader's view: it still holds token 1 (frozen between deciding and charging)
      const m = new ProbeManager({
        store: new PostgresProbeStore(pool, { fence: staticFence(1, () => clock.now()) }),
        drivers: { d: driver },
        globalBudget: { perHour: 10, perDay: 100 },
        clock,
        onResult: (_id, r) => reports.push(r),
      });
      clock.advance(10_000);
      await next.tick();
      const rec = await m.fire({ check: 'card-auth', probeId: 'p-old', reason: 'quiet', deadline: clock.now() + 60_000, options: o });
      expect(rec).toBeUndefined();
      expect(charges).toEqual([]);
      expect(reports).toEqual([expect.objectContaining({ check: 'card-auth', result: 'error', code: 'LEASE_LOST' })]);
      expect((await pool.query('SELECT id FROM probes')).rows).toEqual([]);
      await m.stop();
    } finally {
      await pool.end();
    }
  });

  it('checks and consumes the probe budget atomically: two replicas racing for the last unit charge once', async () => {
    const pool = await freshPool();
    const clock = new ManualClock(T0);
    const lease = new LeaderLease({ db: pool, holder: 'l', ttlMs: 10_000, clock });
    await lease.tick();
    // two stores on separate pools (two processes), both presenting the valid token: the budget
    // itself must hold even then
    const pool2 = new PgPool({ url: cluster.createDatabase(`lease${db}`) });
    const s1 = new PostgresProbeStore(pool, { fence: lease });
    const s2 = new PostgresProbeStore(pool2, { fence: staticFence(lease.token(), () => clock.now()) });
    try {
      await s1.insert(probe('used-1', { check: 'x', result: 'proven' }));
      await s1.insert(probe('used-2', { check: 'y', result: 'proven' }));
      const tries = Array.from({ length: 10 }, (_, i) => (i % 2 ? s1 : s2).reserve(probe(`race-${i}`, { check: `c${i}` }), limits(3, T0 - 1), clock.now()));
      const out = await Promise.all(tries);
      expect(out.filter((r) => r.kind === 'reserved')).toHaveLength(1);
      expect(out.filter((r) => r.kind === 'budget')).toHaveLength(9);
      expect(await s1.countCharges({ since: T0 - 1 })).toBe(3);
    } finally {
      await pool2.end();
      await pool.end();
    }
  });
});

describe('fencing: check state', () => {
  it('only the leader saves check states; a stale leader cannot overwrite the new one', async () => {
    const { PostgresStore } = await import('../../src/store/postgres.ts');
    const pool = await freshPool();
    const clock = new ManualClock(T0);
    const old = new LeaderLease({ db: pool, holder: 'old', ttlMs: 10_000, clock });
    const next = new LeaderLease({ db: pool, holder: 'new', ttlMs: 10_000, clock });
    try {
      const follower = new PostgresStore(pool, { ownsPool: false, fence: next });
      // an API write on a follower (pause, resume, manual probe) answers 503 LEASE_LOST, not 500
      await expect(follower.commit([['a', { status: 'ok' } as never]], [])).rejects.toMatchObject({ code: 'LEASE_LOST', statusCode: 503 });
      await old.tick();
      await new PostgresStore(pool, { ownsPool: false, fence: old }).commit([['a', { status: 'ok', since: 1 } as never]], []);
      clock.advance(10_000);
      await next.tick();
      await follower.commit([['a', { status: 'down', since: 2 } as never]], []);
      const stale = new PostgresStore(pool, { ownsPool: false, fence: staticFence(1, () => clock.now()) });
      await expect(stale.commit([['a', { status: 'ok', since: 3 } as never]], [])).rejects.toMatchObject({ code: 'LEASE_LOST' });
      expect((await follower.loadCheckStates()).get('a')).toEqual({ status: 'down', since: 2 });
    } finally {
      await pool.end();
    }
  });
});

describe('fencing: pages from memory', () => {
  it('sends a row the store has not taken yet only while leading, and keeps paging from memory while the database is unreachable', async () => {
    const pool = await freshPool();
    const clock = new ManualClock(T0);
    const lease = new LeaderLease({ db: pool, holder: 'l', ttlMs: 10_000, clock });
    try {
      const store = new PostgresAlertStore(pool, { fence: lease });
      expect(await store.claim('never-stored')).toBe(false); // not leading
      await lease.tick();
      expect(await store.claim('never-stored')).toBe(true); // leading: a row kept in memory may go
      expect(await new PostgresAlertStore(pool, { fence: staticFence(7, () => clock.now()) }).claim('never-stored')).toBe(false);
      cluster.stopCluster();
      expect(await store.claim('any')).toBe(true); // database gone, lease still valid by our own clock
      clock.advance(8_000); // past ttl - margin: no longer believes it leads
      expect(await store.claim('any')).toBe(false);
    } finally {
      cluster.startCluster();
      await pool.end();
    }
  });
});
