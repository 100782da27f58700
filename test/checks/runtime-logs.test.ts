import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CheckRuntime, FLIP_LOG_LIMIT } from '../../src/checks/runtime.ts';
import type { CheckSpec } from '../../src/checks/types.ts';
import { systemClock } from '../../src/lib/clock.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { captureJsonLines } from '../helpers/logs.ts';

const T0 = Date.UTC(2026, 10, 29, 12, 0, 0);
const spec = (i: number): CheckSpec => ({ name: `c${i}`, stream: `s${i}`, match: {}, quietAfterMs: 10_000, pageAfterMs: 20_000, labels: {} });

type Line = { level: number; msg: string; check?: string; checks?: string[]; flips?: number; from?: string; to?: string; at?: string; last_at?: string; reason?: string };

const capture = (level = 'info') => captureJsonLines<Line>(level);

async function storm(n: number, level = 'info') {
  const { logger, lines } = capture(level);
  const rt = new CheckRuntime({ checks: Array.from({ length: n }, (_, i) => ({ spec: spec(i) })), store: new SqliteStore(':memory:'), clock: systemClock, logger, onEffect: () => {} });
  await rt.start();
  // One event each, 100 checks at a time 10 ms apart: deadlines 10 s later, in batches of 100.
  for (let i = 0; i < n; i += 100) {
    await rt.ingest(Array.from({ length: Math.min(100, n - i) }, (_, k) => ({ stream: `s${i + k}`, arrivedAt: Date.now(), time: Date.now(), attributes: {} })));
    await vi.advanceTimersByTimeAsync(10);
  }
  lines.length = 0;
  await vi.advanceTimersByTimeAsync(10_200);
  rt.stop();
  return lines.filter((l) => / -> /.test(l.msg));
}

describe('flip log lines', () => {
  beforeEach(() => void vi.useFakeTimers({ now: T0 }));
  afterEach(() => void vi.useRealTimers());

  it('logs one line per flip when a batch flips a few checks', async () => {
    const lines = await storm(FLIP_LOG_LIMIT);
    // All 20 go quiet in one wake-up; still one line each.
    expect(lines.map((l) => l.msg).sort()).toEqual(Array.from({ length: FLIP_LOG_LIMIT }, (_, i) => `check c${i}: ok -> quiet`).sort());
    expect(lines.find((l) => l.check === 'c0')).toMatchObject({ from: 'ok', to: 'quiet', at: new Date(T0 + 10_000).toISOString() });
  });

  it('in a storm logs one line per transition naming every check, with the first and last deadline; each flip only at debug', async () => {
    const n = 500;
    const lines = await storm(n);
    expect(lines.every((l) => / checks: ok -> quiet$/.test(l.msg))).toBe(true);
    expect(lines.length).toBeLessThan(n / 10);
    const named = lines.flatMap((l) => l.checks!);
    expect(named.sort()).toEqual(Array.from({ length: n }, (_, i) => `c${i}`).sort());
    expect(lines.reduce((s, l) => s + l.flips!, 0)).toBe(n);
    for (const l of lines) {
      expect(l.msg).toBe(`${l.flips!.toLocaleString('en')} checks: ok -> quiet`);
      expect(Date.parse(l.last_at!)).toBeGreaterThanOrEqual(Date.parse(l.at!));
      expect(l.reason).toBeTypeOf('string');
    }
    expect(Date.parse(lines[0]!.at!)).toBe(T0 + 10_000);
    expect(Date.parse(lines.at(-1)!.last_at!)).toBe(T0 + 10_040);

    const debug = await storm(n, 'debug');
    expect(debug.filter((l) => l.msg.startsWith('check ')).length).toBe(n);
  });
});
