import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CheckRuntime } from '../../src/checks/runtime.ts';
import type { CheckSpec, Effect } from '../../src/checks/types.ts';
import { systemClock } from '../../src/lib/clock.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';

const T0 = Date.UTC(2026, 10, 29, 12, 0, 0);
const spec = (i: number, quiet = 10_000 + i * 10): CheckSpec => ({
  name: `c${i}`,
  stream: `s${i % 10}`,
  match: {},
  quietAfterMs: quiet,
  pageAfterMs: quiet * 3,
  labels: {},
});

describe('runtime shell', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps ONE timer for 1,000 checks and fires each deadline at its time', async () => {
    const store = new SqliteStore(':memory:');
    const effects: Effect[] = [];
    const rt = new CheckRuntime({
      checks: Array.from({ length: 1000 }, (_, i) => ({ spec: spec(i) })),
      store,
      clock: systemClock,
      logger: silentLogger(),
      onEffect: (e) => void effects.push(e),
    });
    await rt.start();
    await rt.ingest(Array.from({ length: 10 }, (_, i) => ({ stream: `s${i}`, arrivedAt: T0, time: T0, attributes: {} })));
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(10_000 + 500 * 10);
    const quiet = effects.filter((e) => e.type === 'flip' && e.to === 'quiet');
    expect(quiet).toHaveLength(501);
    // Each flip carries its own deadline.
    for (const f of quiet) {
      const i = Number((f as { check: string }).check.slice(1));
      expect((f as { at: number }).at).toBe(T0 + 10_000 + i * 10);
    }
    expect(vi.getTimerCount()).toBe(1);
    rt.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('an event re-arms the timer for the later deadline (stale heap entries are skipped)', async () => {
    const store = new SqliteStore(':memory:');
    const flips: string[] = [];
    const rt = new CheckRuntime({ checks: [{ spec: spec(0) }], store, clock: systemClock, logger: silentLogger(), onEffect: (e) => void (e.type === 'flip' && flips.push(e.to)) });
    await rt.start();
    for (let k = 0; k < 20; k++) {
      await rt.ingest([{ stream: 's0', arrivedAt: Date.now(), time: Date.now(), attributes: {} }]);
      await vi.advanceTimersByTimeAsync(9_000);
    }
    expect(flips).toEqual(['ok']);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(flips).toEqual(['ok', 'quiet']);
  });

  it('persists state and flips before an ingest resolves', async () => {
    const store = new SqliteStore(':memory:');
    const rt = new CheckRuntime({ checks: [{ spec: spec(0) }], store, clock: systemClock, logger: silentLogger(), onEffect: () => {} });
    await rt.start();
    await rt.ingest([{ stream: 's0', arrivedAt: T0, time: T0 - 250, attributes: {} }]);
    const saved = await store.loadCheckStates();
    expect(saved.get('c0')).toMatchObject({ status: 'ok', lastEventAt: T0, lastEventTime: T0 - 250 });
    expect(await store.listFlips('c0', 10)).toMatchObject([{ from: 'unknown', to: 'ok' }]);
    expect(rt.snapshot('c0')).toMatchObject({ lagMs: 250, deadlines: { quietAt: T0 + 10_000, pageAt: T0 + 30_000 } });
  });

  it('a failing effect handler is logged, never thrown into ingest', async () => {
    const store = new SqliteStore(':memory:');
    const rt = new CheckRuntime({ checks: [{ spec: spec(0) }], store, clock: systemClock, logger: silentLogger(), onEffect: () => { throw new Error('boom'); } });
    await rt.start();
    await expect(rt.ingest([{ stream: 's0', arrivedAt: T0, time: T0, attributes: {} }])).resolves.toBe(1);
  });
});

describe('runtime shell: a batch that cannot be stored (review finding)', () => {
  it('rolls the checks back and keeps their timers armed', async () => {
    vi.useFakeTimers({ now: T0 });
    try {
      const store = new SqliteStore(':memory:');
      const flips: string[] = [];
      const rt = new CheckRuntime({ checks: [{ spec: spec(0, 200) }], store, clock: systemClock, logger: silentLogger(), onEffect: (e) => void (e.type === 'flip' && flips.push(`${e.from}->${e.to}`)) });
      await rt.start();
      await rt.ingest([{ stream: 's0', arrivedAt: Date.now(), time: Date.now(), attributes: {} }]);
      const commit = store.commit.bind(store);
      store.commit = async () => {
        throw new Error('disk full');
      };
      await vi.advanceTimersByTimeAsync(100);
      await expect(rt.ingest([{ stream: 's0', arrivedAt: Date.now(), time: Date.now(), attributes: {} }])).rejects.toThrow('disk full');
      expect(rt.state('c0')!.lastEventAt).toBe(T0); // the refused event left no trace
      store.commit = commit;
      await vi.advanceTimersByTimeAsync(1_000);
      expect(flips).toEqual(['unknown->ok', 'ok->quiet', 'quiet->down']);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('a storm through a slow store (the writer thread)', () => {
  it('keeps two slices in flight; each flip goes out only after its own slice is stored', async () => {
    const inner = new SqliteStore(':memory:');
    const stored = new Set<string>();
    /** Commits during which the runtime had already taken the next slice (its checks are quiet, not yet stored). */
    let overlapped = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    // Each commit of the storm answers 5 ms later, as a writer thread would.
    let slow = false;
    const store = Object.assign(Object.create(inner) as SqliteStore, {
      commit: async (states: Iterable<[string, unknown]>, flips: readonly unknown[]) => {
        const names = [...states].map(([n]) => n);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        if (slow) {
          await new Promise((r) => setTimeout(r, 5));
          const mine = new Set(names);
          if (rt.names().some((n) => !mine.has(n) && !stored.has(n) && rt.state(n)!.status === 'quiet')) overlapped++;
        }
        await inner.commit([], flips as never);
        for (const n of names) stored.add(n);
        inFlight--;
      },
    });
    const out: Array<{ check: string; at: number }> = [];
    const early: string[] = [];
    const rt = new CheckRuntime({
      checks: Array.from({ length: 3500 }, (_, i) => ({ spec: spec(i, 300) })),
      store,
      clock: systemClock,
      logger: silentLogger(),
      onEffect: (e) => {
        if (e.type !== 'flip' || e.to !== 'quiet') return;
        if (!stored.has(e.check)) early.push(e.check);
        out.push({ check: e.check, at: e.at });
      },
    });
    await rt.start();
    // Real time: the writer's answer comes from the event loop, as a message does, not from a fake clock.
    const t0 = Date.now();
    await rt.ingest(Array.from({ length: 10 }, (_, i) => ({ stream: `s${i}`, arrivedAt: t0, time: t0, attributes: {} })));
    slow = true;
    stored.clear(); // the ingest stored every check once: from here on, the storm's slices
    const end = Date.now() + 5_000;
    while (out.length < 3500 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(out).toHaveLength(3500);
    // Each at its deadline (all due at once here).
    expect(out.every((f) => f.at === t0 + 300)).toBe(true);
    expect(early).toEqual([]);
    // Four slices of <= 1,000: while one was being stored the next was already taken (0 without
    // the two slices in flight; 2-3 of the 4 here, by timing); the store still sees one commit at a time.
    expect(overlapped).toBeGreaterThanOrEqual(1);
    expect(maxInFlight).toBe(1);
    expect(new Set(out.map((f) => f.check)).size).toBe(3500);
    rt.stop();
  });
});
