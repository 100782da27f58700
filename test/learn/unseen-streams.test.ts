/**
 * Learned limits on streams they were not tuned on (issue 15) and one incident per partial outage
 * (issue 11): the warm-up pages only on evidence, `bucket: auto` finds a daily batch's 10 minutes,
 * the rate-drop baseline follows a permanent step down, and a trickle is not recovery.
 */
import { describe, expect, it } from 'vitest';
import { parseLearnConfig, type LearnConfigInput } from '../../src/learn/config.ts';
import { LearnedLimits } from '../../src/learn/model.ts';
import { RateWindows } from '../../src/learn/rate-windows.ts';
import { prng } from '../../src/backtest/trace.ts';

const S = 1000;
const MIN = 60 * S;
const H = 3600 * S;
const DAY = 24 * H;
const WEEK = 7 * DAY;
/** A Monday, 00:00 UTC. */
const T0 = Date.UTC(2026, 0, 5);

const cfg = (over: Partial<LearnConfigInput> = {}) => parseLearnConfig({ min: '1s', max: '12h', ...over });

/** A Poisson stream of `perSecond(t)` events per second over [from, to), given to `observe`. */
function poisson(observe: (t: number) => void, from: number, to: number, perSecond: (t: number) => number, seed = 7): void {
  const rnd = prng(seed);
  let t = from;
  while (t < to) {
    const r = perSecond(t) / S;
    t += r > 0 ? -Math.log(1 - rnd()) / r : MIN;
    if (t < to && r > 0) observe(t);
  }
}

describe('learned limits while warming up', () => {
  it('a stream that never sent an event is new: its quiet limit keeps the bounds, silence alone never pages it until its first event', () => {
    const l = new LearnedLimits(cfg());
    expect(l.phase()).toBe('new');
    expect(l.deadline(T0, 'page')).toBe(Infinity);
    expect(l.deadline(T0, 'quiet')).toBe(T0 + 12 * H);
    // Dashboards and metrics get a number: the longest a learned limit waits.
    expect(l.describe(T0)).toEqual({ quietAfterMs: 12 * H, pageAfterMs: 3 * WEEK, source: 'bounds' });
    // The first event ends the phase: the warm-up evidence decides from then on (a lone event promises nothing: up to 3 weeks).
    l.observe(T0 + H);
    expect(l.phase()).toBe('warm-up');
    expect(l.deadline(T0 + H, 'page')).toBe(T0 + H + 3 * WEEK);
  });

  it('a new check with a fixed pageAfter pages at it (unchanged)', () => {
    const l = new LearnedLimits(cfg(), { pageAfterMs: 30 * MIN });
    expect(l.phase()).toBe('warm-up');
    expect(l.deadline(T0, 'page')).toBe(T0 + 30 * MIN);
  });

  it('a busy stream seen for six hours pages a silence no sooner than warm-up + max after its first event', () => {
    const l = new LearnedLimits(cfg());
    let last = 0;
    poisson((t) => (l.observe(t), (last = t)), T0 + 8 * H, T0 + 14 * H, () => 1);
    expect(l.learned()).toBe(false);
    // The night may be silent: the model has not watched one yet.
    expect(l.deadline(last, 'page')).toBeGreaterThanOrEqual(T0 + 8 * H + DAY + 12 * H);
    // The quiet warning (a probe's trigger) keeps the bounds.
    expect(l.deadline(last, 'quiet')).toBe(last + 12 * H);
  });

  it('a sparse stream whose few events promise nothing pages no sooner than its gaps make unlikely', () => {
    const l = new LearnedLimits(cfg());
    for (const h of [1, 5, 20]) l.observe(T0 + h * H);
    const since = T0 + 20 * H;
    expect(l.learned()).toBe(false);
    // Two gaps over 19 h: a silence of days is not unlikely (Gamma predictive), up to 3 weeks.
    expect(l.deadline(since, 'page') - since).toBeGreaterThan(7 * DAY);
    expect(l.deadline(since, 'page') - since).toBeLessThanOrEqual(3 * WEEK);
  });

  it('a fixed pageAfter still applies during the warm-up', () => {
    const l = new LearnedLimits(cfg(), { pageAfterMs: 5 * MIN });
    l.observe(T0);
    l.observe(T0 + 1000);
    expect(l.deadline(T0 + 1000, 'page')).toBe(T0 + 1000 + 5 * MIN);
  });
});

/** A nightly batch: ~300 events between 02:00 and 02:10 UTC, nothing else. */
const batch = (t: number) => {
  const m = t % DAY;
  return m >= 2 * H && m < 2 * H + 10 * MIN ? 0.5 : 0;
};

describe('bucket: auto', () => {
  it('chooses 10 minutes for a daily batch of ten minutes, after two days, and pages the batch that never comes', () => {
    const l = new LearnedLimits(cfg());
    let last = 0;
    poisson((t) => (l.observe(t), (last = t)), T0, T0 + 14 * DAY, batch);
    expect(l.model.config.bucket).toBe(10 * MIN);
    expect(l.toJSON().bucketMs).toBe(10 * MIN);
    // The next batch (02:00 on day 14) never comes: paged within minutes of 02:00, not at 14:10.
    const page = l.deadline(last, 'page');
    expect(page).toBeGreaterThan(T0 + 14 * DAY + 2 * H);
    expect(page).toBeLessThan(T0 + 14 * DAY + 2 * H + 10 * MIN);
    // A saved state keeps its chosen bucket.
    const again = LearnedLimits.fromJSON(cfg(), l.toJSON());
    expect(again.model.config.bucket).toBe(10 * MIN);
    expect(again.deadline(last, 'page')).toBe(page);
  });

  it('keeps 1 hour for a steady stream and for bursts at different minutes each day', () => {
    const steady = new LearnedLimits(cfg());
    poisson((t) => steady.observe(t), T0, T0 + 3 * DAY, () => 0.2);
    expect(steady.model.config.bucket).toBe(H);
    // Bursty: a few events a minute, and one 5-minute burst at 12:xx, at another minute each day.
    const bursty = new LearnedLimits(cfg());
    poisson((t) => bursty.observe(t), T0, T0 + 3 * DAY, (t) => {
      const day = Math.floor((t - T0) / DAY);
      const m = t % DAY;
      const b = 12 * H + [5, 35, 50][day]! * MIN;
      return m >= b && m < b + 5 * MIN ? 2 : 0.02;
    });
    expect(bursty.model.config.bucket).toBe(H);
  });

  it('a bucket set by hand is kept', () => {
    const l = new LearnedLimits(cfg({ bucket: '1h' }));
    poisson((t) => l.observe(t), T0, T0 + 4 * DAY, batch);
    expect(l.model.config.bucket).toBe(H);
  });
});

describe('rate-drop baseline', () => {
  const opts = { window: 5 * MIN, minDrop: 0.8, falseAlarms: 1 / (365.25 * DAY) };

  it('follows a permanent step down to 30% within hours, and an outage never teaches it', () => {
    const l = new LearnedLimits(cfg({ bucket: '1h' }));
    const w = new RateWindows(opts, l.model);
    const rate = (t: number) => (t < T0 + 3 * WEEK ? 0.5 : 0.15);
    const drops: number[] = [];
    poisson(
      (t) => {
        for (const v of w.judge(t, T0 + WEEK)) if (v.verdict === 'drop') drops.push(v.start);
        l.observe(t);
        w.observe(t);
      },
      T0,
      T0 + 3 * WEEK + DAY,
      rate,
    );
    expect(l.model.rateBaseline()).toBeLessThan(0.4);
    expect(l.model.rateBaseline()).toBeGreaterThan(0.2);
    // Drop windows in the first hours after the step only, none after six hours.
    expect(drops.filter((d) => d >= T0 + 3 * WEEK + 6 * H)).toEqual([]);
    // An empty hour is a drop every window, and leaves the baseline where it was.
    const before = l.model.rateBaseline();
    const at = T0 + 3 * WEEK + DAY + H;
    const verdicts = w.judge(at, 0).concat(w.judge(at + H, 0));
    expect(verdicts.filter((v) => v.start >= at).every((v) => v.verdict === 'drop')).toBe(true);
    expect(l.model.rateBaseline()).toBeCloseTo(before, 2);
  });
});

describe('recovery needs traffic back near its normal', () => {
  const l = new LearnedLimits(cfg({ bucket: '1h' }));
  const end = T0 + 2 * WEEK;
  poisson((t) => l.observe(t), T0, end, () => 0.5);
  const downAt = end + 2 * MIN;

  it('a trickle at 10% of normal is not recovery, traffic at normal is (within 30 events)', () => {
    const trickle = new LearnedLimits(cfg({ bucket: '1h' }), {}, l.toJSON());
    const back: boolean[] = [];
    poisson((t) => back.push(trickle.trafficBack(t, downAt)) && trickle.observe(t), downAt, downAt + H, () => 0.05, 11);
    expect(back.length).toBeGreaterThan(100);
    expect(back.some(Boolean)).toBe(false);
    const normal = new LearnedLimits(cfg({ bucket: '1h' }), {}, l.toJSON());
    const seen: boolean[] = [];
    poisson((t) => seen.push(normal.trafficBack(t, downAt)) && normal.observe(t), downAt, downAt + 2 * MIN, () => 0.5, 12);
    expect(seen.indexOf(true)).toBeGreaterThan(0);
    expect(seen.indexOf(true)).toBeLessThanOrEqual(30);
  });

  it('events from before the check went down do not count', () => {
    const m = new LearnedLimits(cfg({ bucket: '1h' }), {}, l.toJSON());
    poisson((t) => m.observe(t), end, end + MIN, () => 0.5, 13);
    // One stray event two minutes after the outage began: the 30 before it are history.
    expect(m.trafficBack(downAt + 2 * MIN, downAt)).toBe(false);
    expect(m.trafficBack(downAt + 2 * MIN, -Infinity)).toBe(true);
  });
});

describe('a probe lost while a trickle still flows (trafficDrop)', () => {
  const l = new LearnedLimits(cfg({ bucket: '1h' }));
  const end = T0 + 2 * WEEK;
  poisson((t) => l.observe(t), T0, end, () => 0.5); // 1 event every 2 s
  const from = end + 10 * MIN;

  it('a 10% trickle over a 30-s wait is far below normal and says by how much; normal traffic is not', () => {
    const trickle = new LearnedLimits(cfg({ bucket: '1h' }), {}, l.toJSON());
    trickle.observe(from + 12 * S); // one event in the wait where ~15 are normal
    expect(trickle.trafficDrop(from, from + 30 * S)).toMatch(/^1 event in 30s where 15 are normal$/);
    const normal = new LearnedLimits(cfg({ bucket: '1h' }), {}, l.toJSON());
    poisson((t) => normal.observe(t), from, from + 30 * S, () => 0.5, 21);
    expect(normal.trafficDrop(from, from + 30 * S)).toBeUndefined();
    // Busier than the ring of 30 remembered arrivals holds: plenty, never a drop.
    const busy = new LearnedLimits(cfg({ bucket: '1h' }), {}, l.toJSON());
    poisson((t) => busy.observe(t), from, from + 5 * MIN, () => 0.5, 22);
    expect(busy.trafficDrop(from, from + 5 * MIN)).toBeUndefined();
  });

  it('too little expected to tell (fewer than 5 events in the wait), or not learned yet: no verdict', () => {
    const m = new LearnedLimits(cfg({ bucket: '1h' }), {}, l.toJSON());
    expect(m.trafficDrop(from, from + 8 * S)).toBeUndefined(); // 4 expected
    expect(m.trafficDrop(from, from + 12 * S)).toMatch(/^0 events in 12s where 6 are normal$/);
    expect(new LearnedLimits(cfg({ bucket: '1h' })).trafficDrop(from, from + H)).toBeUndefined();
  });
});

describe('the quiet limit spends the tolerance it is given', () => {
  it('comes in when silences beyond it are rarer than falseProbes tolerates; the page limit does not move', () => {
    const make = (tailCalibration: boolean) => new LearnedLimits(cfg({ bucket: '1h', falseProbes: '24/day', tailCalibration }));
    const on = make(true);
    const off = make(false);
    // Over-dispersed: the rate varies by day (the fit sees it), yet silences beyond the quiet limit stay rare.
    const rnd = prng(5);
    const dayRate = Array.from({ length: 30 }, () => 0.2 + 0.2 * rnd());
    poisson((t) => (on.observe(t), off.observe(t)), T0, T0 + 4 * WEEK, (t) => dayRate[Math.floor((t - T0) / DAY)]!);
    const at = T0 + 4 * WEEK + 1000;
    expect(on.model.tailShortfall()).toBeGreaterThan(0);
    expect(on.deadline(at, 'quiet')).toBeLessThan(off.deadline(at, 'quiet'));
    expect(on.deadline(at, 'page')).toBe(off.deadline(at, 'page'));
  });
});
