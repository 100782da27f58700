import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.ts';
import { PermanentError, RetryableError } from '../../src/lib/errors.ts';
import { checkProbeSchema, type CheckProbeInput } from '../../src/probes/config.ts';
import { ProbeManager, type ProbeManagerOptions, type ProbeReport } from '../../src/probes/manager.ts';
import { SqliteProbeStore } from '../../src/probes/store-sqlite.ts';
import type { ChargeRequest, ChargeResult, ProbeDriver, ReverseRequest } from '../../src/probes/types.ts';

const T0 = Date.UTC(2026, 10, 29, 12, 0, 0);
const HOUR = 3_600_000;

/** A scripted driver: records every attempt; answers from a queue (default: accepted). */
class ScriptedDriver implements ProbeDriver {
  readonly kind = 'http' as const;
  attempts: ChargeRequest[] = [];
  reversals: ReverseRequest[] = [];
  queue: (ChargeResult | Error | (() => Promise<ChargeResult>))[] = [];
  reverseError: Error | undefined;
  onCharge?: (req: ChargeRequest) => Promise<void> | void;
  #n = 0;
  get charged(): number {
    return new Set(this.attempts.filter((_, i) => this.outcomes[i] === 'accepted').map((a) => a.idempotencyKey)).size;
  }
  outcomes: string[] = [];
  async charge(req: ChargeRequest): Promise<ChargeResult> {
    this.attempts.push(req);
    await this.onCharge?.(req);
    const next = this.queue.shift();
    if (next instanceof Error) {
      this.outcomes.push('error');
      throw next;
    }
    const r = typeof next === 'function' ? await next() : (next ?? { outcome: 'accepted', reference: `ref_${++this.#n}` });
    this.outcomes.push(r.outcome);
    return r;
  }
  async reverse(req: ReverseRequest): Promise<void> {
    this.reversals.push(req);
    if (this.reverseError) throw this.reverseError;
  }
}

const opts = (o: Partial<CheckProbeInput> = {}) => checkProbeSchema.parse({ driver: 'd', amount: 100, currency: 'eur', timeout: '2m', ...o });

describe('ProbeManager', () => {
  let db: Database.Database;
  let clock: ManualClock;
  let driver: ScriptedDriver;
  let reports: [string, ProbeReport][];
  let seq: number;

  const make = (o: Partial<ProbeManagerOptions> = {}) =>
    new ProbeManager({
      store: new SqliteProbeStore(db),
      drivers: { d: driver },
      globalBudget: { perHour: 100, perDay: 1000 },
      clock,
      onResult: (id, r) => reports.push([id, r]),
      retry: { minDelayMs: 1000, maxDelayMs: 8000, maxAttempts: 6 },
      reverseRetry: { minDelayMs: 10, maxDelayMs: 10, maxAttempts: 2, deadlineMs: 1000 },
      sleep: async (ms) => clock.advance(ms),
      random: () => 0.5,
      newIdempotencyKey: () => `key-${++seq}`,
      ...o,
    });
  const fire = (m: ProbeManager, probeId: string, check = 'cards', o = opts(), deadlineIn = 120_000) =>
    m.fire({ check, probeId, reason: 'quiet', deadline: clock.now() + deadlineIn, options: o });
  const results = () => reports.map(([id, r]) => `${id}:${r.result}`);

  beforeEach(() => {
    db = new Database(':memory:');
    clock = new ManualClock(T0);
    driver = new ScriptedDriver();
    reports = [];
    seq = 0;
  });
  afterEach(() => db.close());

  it('never charges a probe whose deadline has already passed (a late decision)', async () => {
    const m = make();
    const rec = await fire(m, 'late', 'cards', opts(), 0);
    expect(rec).toMatchObject({ result: 'error', costMinor: 0 });
    expect(rec!.error).toMatch(/PROBE_EXPIRED/);
    expect(driver.attempts).toEqual([]);
    expect(reports).toEqual([['late', expect.objectContaining({ result: 'error', code: 'PROBE_EXPIRED' })]]);
  });

  describe('budgets (checked before any charge)', () => {
    it('per check per hour: the third probe in an hour is skipped, not charged, and reported budget', async () => {
      const m = make();
      const o = opts({ budget: { perHour: 2, perDay: 100 } });
      for (const id of ['p1', 'p2']) {
        await fire(m, id, 'cards', o);
        await m.proven(id, clock.now());
        clock.advance(60_000);
      }
      const rec = await fire(m, 'p3', 'cards', o);
      expect(rec).toMatchObject({ result: 'skipped-budget', costMinor: 0 });
      expect(driver.attempts.map((a) => a.probeId)).toEqual(['p1', 'p2']);
      expect(reports.at(-1)).toEqual(['p3', expect.objectContaining({ check: 'cards', result: 'budget', budget: { scope: 'check', window: 'hour', limit: 2, used: 2 } })]);
      // a rolling hour after the first charge there is room again
      clock.set(T0 + HOUR);
      expect((await fire(m, 'p4', 'cards', o))!.result).toBe('accepted');
    });

    it('per check per day: counted over a rolling 24 hours', async () => {
      const m = make();
      const o = opts({ budget: { perHour: 10, perDay: 3 } });
      for (let i = 1; i <= 3; i++) {
        await fire(m, `p${i}`, 'cards', o);
        await m.lost(`p${i}`, clock.now());
        clock.advance(2 * HOUR);
      }
      expect((await fire(m, 'p4', 'cards', o))!.result).toBe('skipped-budget');
      expect(reports.at(-1)![1].budget).toEqual({ scope: 'check', window: 'day', limit: 3, used: 3 });
      expect(driver.attempts).toHaveLength(3);
    });

    it('global per hour and per day: across checks, nothing exceeds it', async () => {
      const m = make({ globalBudget: { perHour: 2, perDay: 3 } });
      await fire(m, 'a1', 'a');
      await fire(m, 'b1', 'b');
      expect((await fire(m, 'c1', 'c'))!.result).toBe('skipped-budget');
      expect(reports.at(-1)![1].budget).toEqual({ scope: 'global', window: 'hour', limit: 2, used: 2 });
      clock.advance(HOUR);
      await fire(m, 'c2', 'c');
      expect((await fire(m, 'd1', 'd'))!.result).toBe('skipped-budget');
      expect(reports.at(-1)![1].budget).toEqual({ scope: 'global', window: 'day', limit: 3, used: 3 });
      expect(driver.attempts.map((a) => a.probeId)).toEqual(['a1', 'b1', 'c2']);
    });

    it('concurrent fires for different checks cannot overrun the global budget', async () => {
      const m = make({ globalBudget: { perHour: 1, perDay: 10 } });
      const recs = await Promise.all(['a', 'b', 'c'].map((c) => fire(m, `${c}1`, c)));
      expect(recs.map((r) => r!.result).sort()).toEqual(['accepted', 'skipped-budget', 'skipped-budget']);
      expect(driver.attempts).toHaveLength(1);
    });

    it('budgetStatus shows use and limits', async () => {
      const m = make({ globalBudget: { perHour: 5, perDay: 50 } });
      const o = opts({ budget: { perHour: 2, perDay: 20 } });
      await fire(m, 'p1', 'cards', o);
      expect(await m.budgetStatus('cards')).toEqual({
        check: { perHour: { used: 1, limit: 2 }, perDay: { used: 1, limit: 20 } },
        global: { perHour: { used: 1, limit: 5 }, perDay: { used: 1, limit: 50 } },
      });
    });
  });

  describe('never two in flight for one check', () => {
    it('refuses a second probe while one is accepted and unproven; allows one after proven', async () => {
      const m = make();
      await fire(m, 'p1');
      expect(await fire(m, 'p2')).toBeUndefined();
      expect(reports.at(-1)).toEqual(['p2', { check: 'cards', result: 'error', code: 'PROBE_IN_FLIGHT', message: expect.stringContaining('p1'), inFlight: 'p1' }]);
      expect(await m.get('p2')).toBeUndefined();
      await m.proven('p1', clock.now());
      expect((await fire(m, 'p3'))!.result).toBe('accepted');
      expect(driver.attempts.map((a) => a.probeId)).toEqual(['p1', 'p3']);
    });

    it('two concurrent fires for one check charge once', async () => {
      const m = make();
      const [a, b] = await Promise.all([fire(m, 'p1'), fire(m, 'p2')]);
      expect([a?.result, b?.result]).toEqual(['accepted', undefined]);
      expect(driver.attempts).toHaveLength(1);
    });

    it('survives a restart: a new manager sees the probe in flight in the store', async () => {
      await fire(make(), 'p1');
      const m2 = make();
      expect(await fire(m2, 'p2')).toBeUndefined();
      clock.advance(121_000); // past p1's deadline without a lost(): no longer blocks
      expect((await fire(m2, 'p3'))!.result).toBe('accepted');
    });
  });

  describe('idempotency and retries', () => {
    it('persists the idempotency key before the charge and reuses it on every retry', async () => {
      const m = make();
      const store = new SqliteProbeStore(db);
      const seen: (string | undefined)[] = [];
      driver.onCharge = async (req) => {
        seen.push((await store.get(req.probeId))?.idempotencyKey);
      };
      driver.queue = [new RetryableError('ACQ_HTTP_500', '500'), new RetryableError('ACQ_TIMEOUT', 'timeout'), { outcome: 'accepted', reference: 'r1' }];
      const rec = await fire(m, 'p1');
      expect(rec).toMatchObject({ result: 'accepted', reference: 'r1', attempts: 3, idempotencyKey: 'key-1' });
      expect(driver.attempts.map((a) => a.idempotencyKey)).toEqual(['key-1', 'key-1', 'key-1']);
      expect(seen).toEqual(['key-1', 'key-1', 'key-1']);
      expect(results()).toEqual(['p1:accepted']);
    });

    it('a re-fire of a probe left pending by a crash resumes with the same key', async () => {
      // first process: the charge never answers (crash)
      driver.queue = [() => new Promise<ChargeResult>(() => {})];
      void fire(make(), 'p1');
      await new Promise((r) => setTimeout(r, 10));
      const rec = await new SqliteProbeStore(db).get('p1');
      expect(rec).toMatchObject({ result: 'pending', idempotencyKey: 'key-1', attempts: 1 });
      // second process: the engine fires p1 again
      const again = await fire(make(), 'p1');
      expect(again).toMatchObject({ result: 'accepted', idempotencyKey: 'key-1', attempts: 2 });
      expect(driver.attempts.map((a) => a.idempotencyKey)).toEqual(['key-1', 'key-1']);
    });

    it('after a restart, interrupted probes are closed or handed back for resuming', async () => {
      driver.queue = [() => new Promise<ChargeResult>(() => {}), () => new Promise<ChargeResult>(() => {})];
      const m1 = make();
      void fire(m1, 'old', 'a', opts(), 10_000);
      void fire(m1, 'fresh', 'b', opts(), 120_000);
      await new Promise((r) => setTimeout(r, 10));
      clock.advance(20_000);
      const m2 = make();
      const resumable = await m2.recoverInterrupted();
      expect(resumable.map((r) => r.id)).toEqual(['fresh']);
      expect(await m2.get('old')).toMatchObject({ result: 'error', error: expect.stringContaining('PROBE_INTERRUPTED') });
      const r = resumable[0]!;
      const again = await m2.fire({ check: r.check, probeId: r.id, reason: r.reason, deadline: r.deadline, options: opts() });
      expect(again).toMatchObject({ result: 'accepted', idempotencyKey: r.idempotencyKey });
    });

    it('gives up within the deadline and reports error', async () => {
      const m = make();
      driver.queue = Array.from({ length: 20 }, () => new RetryableError('ACQUIRER_HTTP_503', 'acquirer answered 503'));
      const deadline = clock.now() + 10_000;
      const rec = await m.fire({ check: 'cards', probeId: 'p1', reason: 'quiet', deadline, options: opts() });
      expect(rec).toMatchObject({ result: 'error', error: 'ACQUIRER_HTTP_503: acquirer answered 503' });
      expect(clock.now()).toBeLessThanOrEqual(deadline);
      expect(driver.attempts.length).toBeGreaterThan(1);
      expect(new Set(driver.attempts.map((a) => a.idempotencyKey)).size).toBe(1);
      expect(reports).toEqual([['p1', { check: 'cards', result: 'error', code: 'ACQUIRER_HTTP_503', message: 'acquirer answered 503' }]]);
      // an error releases the check
      driver.queue = [];
      expect((await fire(m, 'p2'))!.result).toBe('accepted');
    });

    it('a permanent error is not retried', async () => {
      const m = make();
      driver.queue = [new PermanentError('ACQUIRER_HTTP_401', 'acquirer answered 401')];
      expect((await fire(m, 'p1'))!.result).toBe('error');
      expect(driver.attempts).toHaveLength(1);
    });

    it('firing a settled probe id again changes nothing', async () => {
      const m = make();
      await fire(m, 'p1');
      await m.proven('p1', clock.now());
      expect((await fire(m, 'p1'))!.result).toBe('proven');
      expect(driver.attempts).toHaveLength(1);
    });
  });

  describe('proven / lost', () => {
    it('proven records end-to-end latency from the charge and reverses the charge', async () => {
      const m = make();
      clock.advance(500);
      driver.queue = [new RetryableError('X', 'x'), { outcome: 'accepted', reference: 'ref_A' }];
      const rec = await fire(m, 'p1');
      const sentAt = rec!.chargedAt!; // the attempt that was answered
      expect(sentAt).toBeGreaterThan(T0 + 500);
      const proven = await m.proven('p1', sentAt + 4200);
      expect(proven).toMatchObject({ result: 'proven', latencyMs: 4200, settledAt: sentAt + 4200, reference: 'ref_A' });
      await m.idle();
      expect(driver.reversals).toEqual([expect.objectContaining({ probeId: 'p1', reference: 'ref_A', idempotencyKey: 'key-1' })]);
      expect((await m.get('p1'))!.reversedAt).toBeTypeOf('number');
    });

    it('a failing reversal is recorded and never thrown', async () => {
      const m = make();
      driver.reverseError = new PermanentError('ACQUIRER_HTTP_404', 'no such charge');
      await fire(m, 'p1');
      await expect(m.proven('p1', clock.now())).resolves.toMatchObject({ result: 'proven' });
      await m.idle();
      expect((await m.get('p1'))!.reversalError).toBe('ACQUIRER_HTTP_404: no such charge');
    });

    it('an event seen before the acquirer answered: stays proven, reversed once accepted', async () => {
      const m = make();
      let answer!: (r: ChargeResult) => void;
      driver.queue = [() => new Promise<ChargeResult>((r) => (answer = r))];
      const firing = fire(m, 'p1');
      await new Promise((r) => setTimeout(r, 10));
      await m.proven('p1', clock.now() + 50);
      answer({ outcome: 'accepted', reference: 'ref_late' });
      const rec = await firing;
      expect(rec).toMatchObject({ result: 'proven', latencyMs: 50, reference: 'ref_late' });
      await m.idle();
      expect(driver.reversals.map((r) => r.reference)).toEqual(['ref_late']);
      expect(results()).toEqual([]); // the engine already knows: no late 'accepted'
    });

    it('lost records the loss, releases the check, and reverses the charge', async () => {
      const m = make();
      await fire(m, 'p1');
      expect(await m.lost('p1', clock.now() + 120_000)).toMatchObject({ result: 'lost', settledAt: clock.now() + 120_000 });
      await m.idle();
      expect(driver.reversals).toHaveLength(1);
      expect((await fire(m, 'p2'))!.result).toBe('accepted');
      // a late proven() after lost still proves (the pipeline was only slow)
      expect((await m.proven('p1', clock.now()))!.result).toBe('proven');
    });

    it('list and get', async () => {
      const m = make();
      await fire(m, 'p1', 'a');
      clock.advance(1000);
      await fire(m, 'p2', 'b');
      expect((await m.list({})).map((r) => r.id)).toEqual(['p2', 'p1']);
      expect((await m.list({ check: 'a' })).map((r) => r.id)).toEqual(['p1']);
      expect((await m.list({ limit: 1 })).map((r) => r.id)).toEqual(['p2']);
      expect(await m.get('p1')).toMatchObject({ check: 'a', reason: 'quiet', costMinor: 100, currency: 'eur', driver: 'd' });
    });

    it('an unknown driver is an error, reported', async () => {
      const m = make();
      const rec = await fire(m, 'p1', 'cards', opts({ driver: 'nope' }));
      expect(rec).toMatchObject({ result: 'error' });
      expect(reports[0]![1]).toMatchObject({ result: 'error', code: 'PROBE_UNKNOWN_DRIVER' });
    });
  });
});
