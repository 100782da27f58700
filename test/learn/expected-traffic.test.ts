/**
 * A learned limit never pages where nothing is expected (nights, closed days, listed holidays, a
 * sparse stream's ordinary lull), however long the silence, and still pages a silence at a time
 * when traffic is expected. `max` bounds the wait only where traffic is expected.
 */
import { describe, expect, it } from 'vitest';
import { runBacktest } from '../../src/backtest/run.ts';
import { businessHours } from '../../src/backtest/synthetic.ts';
import { cursor } from '../../src/backtest/trace.ts';
import { parseConfig } from '../../src/config/load.ts';
import { specFor } from '../../src/checks/spec.ts';
import { parseLearnConfig } from '../../src/learn/config.ts';
import { LearnedLimits } from '../../src/learn/model.ts';
import { effectiveLearnConfig, specLimits } from '../../src/learn/spec.ts';
import { prng } from '../../src/backtest/trace.ts';

const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;
const DAY = 24 * H;
const WEEK = 7 * DAY;
const LEARN = { min: '2s', max: '12h', falseProbes: '1/week', falsePages: '1/year' };

/** A model fed the business-hours stream up to `until` (its first 8 weeks by default). */
function learnedBusiness(until = 8 * WEEK) {
  const s = businessHours({ seed: 1, days: Math.ceil(until / DAY) + 1 });
  const l = new LearnedLimits(parseLearnConfig({ ...LEARN, holidays: s.holidays }));
  const from = s.trace.starts[0]!;
  const c = cursor(s.trace, 1);
  let last = from;
  for (let t = c.next(); !Number.isNaN(t) && t < from + until; t = c.next()) {
    l.observe(t);
    last = t;
  }
  return { l, s, from, last };
}

describe('learned limits: where nothing is expected, max does not page', () => {
  const { l, from, last } = learnedBusiness();
  // `last` is the newest event before Monday of week 8, i.e. Saturday ~12:59 of week 7.
  const monday = from + 8 * WEEK;

  it('a silence from Saturday afternoon over Sunday ends after Monday opens, not at since + max', () => {
    expect(new Date(last).getUTCDay()).toBe(6);
    const page = l.deadline(last, 'page');
    const quiet = l.deadline(last, 'quiet');
    expect(page - last).toBeGreaterThan(12 * H);
    // Monday opens at 08:00: the limits fall within the first half hour of trading.
    expect(page).toBeGreaterThan(monday + 8 * H);
    expect(page).toBeLessThan(monday + 8 * H + 30 * MIN);
    expect(quiet).toBeGreaterThan(monday + 8 * H);
    expect(quiet).toBeLessThanOrEqual(page);
  });

  it('a silence from the last event before 18:00 on a weekday waits for the next morning', () => {
    const wed1759 = from + 7 * WEEK + 2 * DAY + 17 * H + 59 * MIN;
    const page = l.deadline(wed1759, 'page');
    expect(page).toBeGreaterThan(wed1759 + 14 * H); // Thursday 08:00
    expect(page).toBeLessThan(wed1759 + 14 * H + 30 * MIN);
  });

  it('a silence at 10:00 on a weekday pages within minutes (traffic expected)', () => {
    const tue10 = from + 7 * WEEK + DAY + 10 * H;
    const page = l.deadline(tue10, 'page') - tue10;
    expect(page).toBeGreaterThan(1 * MIN);
    expect(page).toBeLessThan(10 * MIN);
  });

  it('a listed holiday is judged as a Sunday: a silence over Easter Monday waits for Tuesday', () => {
    // Easter Monday 2025-04-21 (week 15): learn up to the Saturday before.
    const easter = learnedBusiness(15 * WEEK - DAY);
    const sat = easter.last;
    const page = easter.l.deadline(sat, 'page');
    const tuesday = Date.parse('2025-04-22T08:00:00Z');
    expect(page).toBeGreaterThan(tuesday);
    expect(page).toBeLessThan(tuesday + 30 * MIN);
  });
});

describe('learned limits: max still bounds the wait where traffic is expected', () => {
  it('a tight max caps the limit on a steady stream', () => {
    const l = new LearnedLimits(parseLearnConfig({ min: '1s', max: '10s', model: 'poisson', adapt: false }));
    const rnd = prng(3);
    let t = Date.UTC(2026, 0, 5);
    const end = t + 2 * WEEK;
    while (t < end) l.observe((t += (-Math.log(1 - rnd()) / 0.5) * S));
    expect(l.deadline(end, 'page') - end).toBe(10 * S);
  });

  it('a silence into time of week with no history at all pages at max (unknown is not "nothing expected")', () => {
    // 30 hours of a 24/7 stream: learned (warm-up 1h), the pooled day profile covers every hour of
    // the day but Tuesday's hours from 06:00 on have no history of their own nor... they do: the
    // pooled profile. A stream seen for 3 hours only knows 3 hours of the day.
    const l = new LearnedLimits(parseLearnConfig({ min: '1s', max: '1h', warmup: '1h' }));
    const t0 = Date.UTC(2026, 0, 5);
    const rnd = prng(4);
    let t = t0;
    while (t < t0 + 3 * H) l.observe((t += (-Math.log(1 - rnd()) / 1) * S));
    expect(l.learned()).toBe(true);
    const since = t0 + 3 * H;
    // 03:00 onwards was never seen: nothing is known there, so max applies.
    expect(l.deadline(since, 'page') - since).toBe(H);
  });
});

describe('business hours, a year through the engine: no page at night, on Sundays or holidays', () => {
  it('pages the outages in business hours; every false page outside trading hours is in the first week (learning)', () => {
    const s = businessHours({ seed: 2 });
    const spec = specFor(parseConfig(`checks:\n  - name: invoices\n    quietAfter: auto\n    pageAfter: auto\n    learn: ${JSON.stringify({ ...LEARN, holidays: s.holidays })}\n`, 'x.yaml').checks[0]!);
    const r = runBacktest({ spec, trace: s.trace, outages: s.outages, seed: 2, keepReasons: false });
    const from = s.trace.starts[0]!;
    const closed = r.pages.filter((p) => !p.true && s.rate(p.at) === 0);
    // Before: 306 false pages a year, about one every night (the page limit clamped to max). Now
    // only while learning: the first night (warm-up: the bounds apply) and the first Saturday
    // (judged by the weekdays' profile before a Saturday has been seen).
    expect(closed.every((p) => p.at < from + WEEK)).toBe(true);
    expect(closed.length).toBeLessThanOrEqual(3);
    // Beyond those, chance silences in trading hours at the 1/year tolerance.
    expect(r.falsePages - closed.length).toBeLessThanOrEqual(2);
    // Both full outages paged within 10 minutes; the partial one (10% for 30 min) is found too.
    for (const o of r.outages) expect(o.delayMs).not.toBeNull();
    for (const o of [r.outages[0]!, r.outages[2]!]) expect(o.delayMs!).toBeLessThan(10 * MIN);
  }, 120_000);
});

describe('the probe trigger follows the probe budget', () => {
  it('with probe.budget.perDay, the quiet tolerance is learn.probeShare of it (never below falseProbes)', () => {
    const learn = parseLearnConfig(LEARN);
    expect(learn.probeShare).toBe(0.5);
    expect(effectiveLearnConfig(learn, { probeBudgetPerDay: 48 }).falseProbes * DAY).toBeCloseTo(24, 9);
    expect(effectiveLearnConfig(learn, {}).falseProbes).toBe(learn.falseProbes);
    expect(effectiveLearnConfig(parseLearnConfig({ ...LEARN, probeShare: 0 }), { probeBudgetPerDay: 48 }).falseProbes).toBe(learn.falseProbes);
    // A budget smaller than falseProbes never loosens it.
    expect(effectiveLearnConfig(parseLearnConfig({ ...LEARN, falseProbes: '10/day' }), { probeBudgetPerDay: 4 }).falseProbes * DAY).toBeCloseTo(10, 9);
  });

  it('the service\'s spec for a check with a probe spends the budget share: an earlier quiet limit, the same page limit', () => {
    const yaml = (probe: string) =>
      `probes: { drivers: { acq: { type: sandbox } } }\nchecks:\n  - name: cards\n    quietAfter: auto\n    pageAfter: auto\n    learn: ${JSON.stringify(LEARN)}\n${probe}`;
    const withBudget = specFor(parseConfig(yaml('    probe: { driver: acq, budget: { perDay: 48 } }\n'), 'x.yaml').checks[0]!).limits as LearnedLimits;
    const without = specFor(parseConfig(yaml(''), 'x.yaml').checks[0]!).limits as LearnedLimits;
    expect(withBudget.probesPerDay().expected).toBeCloseTo(24, 6);
    expect(without.probesPerDay().expected).toBeCloseTo(1 / 7, 6);
    const rnd = prng(9);
    let t = Date.UTC(2026, 0, 5);
    const end = t + 2 * WEEK;
    while (t < end) {
      t += (-Math.log(1 - rnd()) / 2) * S;
      withBudget.observe(t);
      without.observe(t);
    }
    const q1 = withBudget.deadline(end, 'quiet') - end;
    const q0 = without.deadline(end, 'quiet') - end;
    expect(q1).toBeLessThan(q0 * 0.8);
    expect(withBudget.deadline(end, 'page')).toBe(without.deadline(end, 'page'));
  });
});

describe('warm-up with a probe', () => {
  it('the quiet limit is half of max while the bounds apply, so the probe decides before max pages', () => {
    const learn = parseLearnConfig({ ...LEARN, max: '10m' });
    const withProbe = specLimitsFor(learn, { probe: true });
    const without = specLimitsFor(learn, {});
    const t = Date.UTC(2026, 0, 5);
    // A stream that never sent an event has no page limit yet (phase new); the quiet limit fires the probe.
    expect(withProbe.describe(t)).toMatchObject({ source: 'bounds', quietAfterMs: 5 * MIN });
    expect(without.describe(t)).toMatchObject({ source: 'bounds', quietAfterMs: 10 * MIN });
    expect(withProbe.deadline(t, 'page')).toBe(Infinity);
    // After its first event the warm-up page limit applies: the probe still decides first.
    withProbe.observe(t);
    expect(withProbe.deadline(t, 'quiet')).toBe(t + 5 * MIN);
    expect(withProbe.deadline(t, 'page')).toBeGreaterThan(t + 10 * MIN);
    // A budget implies a probe.
    expect(specLimitsFor(learn, { probeBudgetPerDay: 48 }).describe(t).quietAfterMs).toBe(5 * MIN);
  });
});

function specLimitsFor(learn: ReturnType<typeof parseLearnConfig>, opts: Parameters<typeof specLimits>[2]): LearnedLimits {
  return specLimits({ quietAfter: 'auto', pageAfter: 'auto', learn }, undefined, opts).limits!;
}
