/**
 * Backtests of the synthetic streams with shapes the shared traces lack (src/backtest/synthetic.ts),
 * learned limits at the bench's defaults (no per-stream settings): one incident per partial
 * outage (issue 11), a business's first weekends, a daily batch with `bucket: auto`, rate-drop
 * after a permanent step down.
 */
import { describe, expect, it } from 'vitest';
import type { CheckSpec } from '../../src/checks/types.ts';
import { runBacktest } from '../../src/backtest/run.ts';
import { businessHours, dailyBatch, partialDrop, step } from '../../src/backtest/synthetic.ts';
import { parseLearnConfig, type LearnConfigInput } from '../../src/learn/config.ts';
import { LearnedLimits } from '../../src/learn/model.ts';

const S = 1000;
const MIN = 60 * S;
const DAY = 86_400 * S;
const RATE_DROP = { window: 5 * MIN, minDrop: 0.8, falseAlarms: 1 / (365.25 * DAY) };

const spec = (extra: Partial<LearnConfigInput> = {}): CheckSpec => ({
  name: 'x',
  stream: 'x',
  match: {},
  labels: {},
  quietAfterMs: 0,
  pageAfterMs: 0,
  limits: new LearnedLimits(parseLearnConfig({ min: '2s', max: '12h', falseProbes: '1/week', falsePages: '1/year', ...extra })),
});

describe('a 4-week trace with a one-hour drop to 10% of normal (issue 11)', () => {
  for (const seed of [1, 2, 3]) {
    it(`is one incident, paged within 4 minutes and resolved once traffic is back (seed ${seed})`, () => {
      const s = partialDrop({ seed });
      for (const rateDrop of [false, RATE_DROP] as const) {
        const r = runBacktest({ spec: spec(), trace: s.trace, outages: s.outages, seed, keepReasons: false, rateDrop });
        expect(r.falsePages).toBe(0);
        expect(r.outages[0]!.incidents).toBe(1);
        // Before: 10, 4 and 5 incidents (3, 2, 2 with rate-drop), the first after 2m38s, 3m1s, 53s.
        expect(r.outages[0]!.delayMs).not.toBeNull();
        expect(r.outages[0]!.delayMs!).toBeLessThan(4 * MIN);
        const page = r.pages.find((p) => p.true)!;
        expect(page.resolvedAt).toBeGreaterThanOrEqual(s.outages[0]!.end);
        expect(page.resolvedAt!).toBeLessThanOrEqual(s.outages[0]!.end + 5 * MIN);
      }
    }, 120_000);
  }
});

describe('learned limits at the defaults on streams they were not tuned on', () => {
  it('a business-hours stream: no page on its first nights, Saturday or Sunday, none in warm-up', () => {
    for (const seed of [1, 2]) {
      const s = businessHours({ seed, days: 28 });
      const r = runBacktest({ spec: spec({ holidays: s.holidays }), trace: s.trace, outages: s.outages, seed, keepReasons: false, rateDrop: RATE_DROP });
      // Before: the first night paged in warm-up, the first Saturday at 08:05 and 13:14, and
      // 135 rate-drop windows in the year, the first ones that Saturday.
      expect(r.pages.filter((p) => !p.true)).toEqual([]);
      expect(r.rateDrop!.dropsOutsideOutages).toBe(0);
    }
  }, 120_000);

  it('a daily batch: bucket auto finds its ten minutes; no false page, the missing batch paged within a minute', () => {
    for (const seed of [1, 2]) {
      const s = dailyBatch({ seed });
      const sp = spec();
      const r = runBacktest({ spec: sp, trace: s.trace, outages: s.outages, seed, keepReasons: false });
      expect((sp.limits as LearnedLimits).model.config.bucket).toBe(10 * MIN);
      // Before (bucket 1h by default): 2 false pages a seed in warm-up and the outage missed.
      expect(r.falsePages).toBe(0);
      expect(r.outages[0]!.delayMs).not.toBeNull();
      expect(r.outages[0]!.delayMs!).toBeLessThan(MIN);
    }
  }, 120_000);

  it('a permanent step down to 30%: rate-drop follows it within hours (before: 175 windows in its first week)', () => {
    const s = step({ seed: 1, factor: 0.3, days: 56 });
    const r = runBacktest({ spec: spec(), trace: s.trace, outages: s.outages, seed: 1, keepReasons: false, rateDrop: RATE_DROP });
    expect(r.rateDrop!.dropsOutsideOutages).toBeLessThanOrEqual(3);
  }, 120_000);
});
