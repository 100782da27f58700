import { describe, expect, it } from 'vitest';
import { cursor, loadTrace, parseTime, prng } from '../../src/backtest/trace.ts';
import { parseLearnConfig, parseRate } from '../../src/learn/config.ts';
import { LearnedLimits } from '../../src/learn/model.ts';
import { evaluateRateDrop, lowerTail } from '../../src/learn/rate-drop.ts';
import { tracePath } from '../helpers/traces.ts';
import { poissonCount } from '../helpers/random.ts';

const H = 3_600_000;
const T0 = Date.UTC(2026, 0, 5);
const opts = { minDrop: 0.8, falseAlarmsPerMs: parseRate('1/year')! };

/** Three weeks of history as InfluxDB would give it: Poisson hourly counts around `perHour`. */
function seeded(perHour: number): LearnedLimits {
  const l = new LearnedLimits(parseLearnConfig({ min: '1s', max: '1h' }));
  const rnd = prng(7);
  l.seed(Array.from({ length: 21 * 24 }, (_, i) => ({ start: T0 + i * H, count: poissonCount(perHour, rnd), bucketMs: H })));
  return l;
}

describe('lower tail', () => {
  it('is the Poisson CDF without dispersion and heavier with it', () => {
    expect(lowerTail(0, 3, 0)).toBeCloseTo(Math.exp(-3), 10);
    expect(lowerTail(2, 3, 0)).toBeCloseTo(Math.exp(-3) * (1 + 3 + 4.5), 10);
    expect(lowerTail(0, 3, 0.5)).toBeCloseTo((1 + 3 * 0.5) ** (-1 / 0.5), 10);
    expect(lowerTail(5, 50, 0.1)).toBeGreaterThan(lowerTail(5, 50, 0));
    expect(lowerTail(-1, 5, 0)).toBe(0);
  });
});

describe('rate-drop', () => {
  const l = seeded(1200); // 100 per 5 minutes
  const ws = T0 + 21 * 24 * H + 2 * H;
  const we = ws + 300_000;

  it('flags a 90% drop that is far below the learned normal', () => {
    const r = evaluateRateDrop(l.model, ws, we, 10, opts);
    expect(r.verdict).toBe('drop');
    expect(r.expected).toBeGreaterThan(95); // 100 per 5 minutes, learned from Poisson history
    expect(r.expected).toBeLessThan(105);
    expect(r.probability).toBeLessThan(r.threshold);
    expect(r.reason).toMatch(/10 events, (89|90)% below normal for this window: (9[5-9]|10[0-4])\.\d events/);
  });

  it('does not flag normal traffic or a drop smaller than minDrop', () => {
    expect(evaluateRateDrop(l.model, ws, we, 95, opts).verdict).toBe('normal');
    const r = evaluateRateDrop(l.model, ws, we, 25, opts); // 75%: unlikely, but not an 80% drop
    expect(r.verdict).toBe('normal');
    expect(r.reason).toMatch(/drop 7[4-6]% < 80%/);
  });

  it('does not flag a drop that small counts make plausible', () => {
    const quiet = seeded(24); // 2 per 5 minutes
    const r = evaluateRateDrop(quiet.model, ws, we, 0, opts);
    expect(r.verdict).toBe('normal');
    expect(r.probability).toBeGreaterThan(0.05);
  });

  it('says nothing without history', () => {
    const fresh = new LearnedLimits(parseLearnConfig({ min: '1s', max: '1h' }));
    expect(evaluateRateDrop(fresh.model, ws, we, 0, opts)).toMatchObject({ verdict: 'normal', learned: false });
  });

  it('flags the partial outage of nab-twitter-AAPL on 2015-03-12 (0, 0, 1), learning online up to it', () => {
    const trace = loadTrace(tracePath('nab-twitter-AAPL.csv'));
    if (trace.kind !== 'counts') throw new Error('expected counts');
    const start = parseTime('2015-03-12 05:27:53')!;
    const l2 = new LearnedLimits(parseLearnConfig({ min: '2s', max: '12h' }));
    const c = cursor(trace, 1);
    for (let t = c.next(); !Number.isNaN(t) && t < start; t = c.next()) l2.observe(t);
    const W = 300_000;
    const verdicts = [0, 1, 2].map((k) => {
      const i = trace.starts.indexOf(start + k * W);
      return evaluateRateDrop(l2.model, start + k * W, start + (k + 1) * W, trace.counts[i]!, opts);
    });
    expect(verdicts.map((v) => v.observed)).toEqual([0, 0, 1]);
    expect(verdicts.map((v) => v.verdict)).toEqual(['drop', 'drop', 'drop']);
    expect(evaluateRateDrop(l2.model, start, start + 3 * W, 1, opts).verdict).toBe('drop');
    // The hour before was normal.
    const before = trace.starts.indexOf(start - W);
    expect(evaluateRateDrop(l2.model, start - W, start, trace.counts[before]!, opts).verdict).toBe('normal');
  });
});
