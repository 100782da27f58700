/**
 * Synthetic count traces with shapes the shared traces lack (../shared/traces/README.md): a
 * business-hours stream (silent nights, Sundays and bank holidays), a daily batch, and a stream
 * whose volume steps down or up for good. Each is a per-minute counts trace (the same Trace the
 * CLI reads from CSV), Poisson counts at a known rate from a seeded PRNG, with its outages.
 *
 * The rate is what a real stream of that kind does; the generator knows it, so a test can tell a
 * page where traffic was expected from one where none was.
 */
import { prng, type Outage, type Trace } from './trace.ts';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

export interface SyntheticStream {
  name: string;
  trace: Extract<Trace, { kind: 'counts' }>;
  outages: Outage[];
  /** Holidays to configure (learn.holidays), YYYY-MM-DD. */
  holidays: string[];
  /** Expected events per minute at t (the generator's truth). */
  rate: (t: number) => number;
}

/** A Poisson count with mean m (product method; large means split in halves, exactly Poisson). */
export function poissonCount(m: number, rnd: () => number): number {
  if (m > 500) return poissonCount(m / 2, rnd) + poissonCount(m / 2, rnd);
  if (m <= 0) return 0;
  const limit = Math.exp(-m);
  let k = 0;
  for (let p = rnd(); p > limit; p *= rnd()) k++;
  return k;
}

function build(name: string, from: number, days: number, rate: (t: number) => number, outages: Outage[], holidays: string[], seed: number, partial: Outage[] = []): SyntheticStream {
  const rnd = prng(seed);
  const n = Math.round((days * DAY) / MIN);
  const starts = new Float64Array(n);
  const counts = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = from + i * MIN;
    starts[i] = t;
    const full = outages.some((o) => t >= o.start && t < o.end);
    const part = partial.some((o) => t >= o.start && t < o.end);
    counts[i] = full ? 0 : poissonCount(rate(t) * (part ? 0.1 : 1), rnd);
  }
  return { name, trace: { kind: 'counts', bucketMs: MIN, starts, counts }, outages: [...outages, ...partial].sort((a, b) => a.start - b.start), holidays, rate };
}

const isoDay = (t: number) => new Date(t).toISOString().slice(0, 10);

/** UK bank holidays of 2025 and New Year 2026 (the business-hours stream is closed then). */
export const BANK_HOLIDAYS_2025 = ['2025-01-01', '2025-04-18', '2025-04-21', '2025-05-05', '2025-05-26', '2025-08-25', '2025-12-25', '2025-12-26', '2026-01-01'];

/**
 * Invoices by the minute, UTC: Monday-Friday 08:00-18:00 (busiest mid-morning and mid-afternoon,
 * ~4 a minute at the peak), Saturday 09:00-13:00 at a third, nothing at night, on Sundays or on
 * bank holidays. A year from Monday 2025-01-06; one 2-hour outage on a Wednesday morning in
 * week 20 and one on a Monday afternoon in week 40, and a partial one (10% of normal for 30 min).
 */
export function businessHours(opts: { seed?: number; days?: number; peakPerMinute?: number } = {}): SyntheticStream {
  const from = Date.parse('2025-01-06T00:00:00Z');
  const peak = opts.peakPerMinute ?? 4;
  const holidays = BANK_HOLIDAYS_2025;
  const hol = new Set(holidays);
  const rate = (t: number) => {
    if (hol.has(isoDay(t))) return 0;
    const d = new Date(t);
    const dow = d.getUTCDay();
    const h = d.getUTCHours() + d.getUTCMinutes() / 60;
    if (dow === 0) return 0;
    if (dow === 6) return h >= 9 && h < 13 ? peak / 3 : 0;
    if (h < 8 || h >= 18) return 0;
    // Two humps: 10:30 and 15:00, a lunch dip.
    const shape = 0.45 + 0.55 * Math.max(Math.exp(-(((h - 10.5) / 1.6) ** 2)), Math.exp(-(((h - 15) / 1.8) ** 2)));
    return peak * shape;
  };
  const w = (week: number, dow: number, hour: number) => from + week * 7 * DAY + dow * DAY + hour * HOUR;
  const outages = [
    { start: w(20, 2, 9.5), end: w(20, 2, 11.5) },
    { start: w(40, 0, 14), end: w(40, 0, 16) },
  ];
  const partial = [{ start: w(30, 3, 10), end: w(30, 3, 10.5) }];
  return build('business-hours', from, opts.days ?? 364, rate, outages, holidays, opts.seed ?? 1, partial);
}

/**
 * A nightly batch: every day at 02:00 UTC ~300 events within ten minutes, nothing else. 120 days;
 * the batch of day 70 never comes (the outage: 02:00 to 03:00).
 */
export function dailyBatch(opts: { seed?: number; days?: number } = {}): SyntheticStream {
  const from = Date.parse('2025-01-06T00:00:00Z');
  const rate = (t: number) => {
    const m = ((t % DAY) + DAY) % DAY;
    return m >= 2 * HOUR && m < 2 * HOUR + 10 * MIN ? 30 : 0;
  };
  const outages = [{ start: from + 70 * DAY + 2 * HOUR, end: from + 70 * DAY + 3 * HOUR }];
  return build('daily-batch', from, opts.days ?? 120, rate, outages, [], opts.seed ?? 1);
}

/**
 * A busy stream with a daily shape (~20 a minute by day, ~3 at night) whose volume steps for good
 * on day 42 (`factor` 0.3: down to 30%; 3: up threefold). 91 days; a 1-hour outage on day 70 at
 * 15:00 UTC.
 */
export function step(opts: { seed?: number; days?: number; factor?: number } = {}): SyntheticStream {
  const from = Date.parse('2025-01-06T00:00:00Z');
  const factor = opts.factor ?? 0.3;
  const stepAt = from + 42 * DAY;
  const rate = (t: number) => {
    const h = (((t % DAY) + DAY) % DAY) / HOUR;
    const base = 3 + 17 * Math.max(0, Math.sin(((h - 6) / 18) * Math.PI));
    return base * (t >= stepAt ? factor : 1);
  };
  const outages = [{ start: from + 70 * DAY + 15 * HOUR, end: from + 70 * DAY + 16 * HOUR }];
  return build(factor < 1 ? 'step-down' : 'step-up', from, opts.days ?? 91, rate, outages, [], opts.seed ?? 1);
}

/**
 * Issue 11's partial outage: four weeks of a busy stream with a daily shape (~20 a minute by day,
 * ~3 at night) and one hour on day 21 (a Monday, 15:00 UTC) at 10% of normal: the trickle that
 * must be one incident, not one per stray event.
 */
export function partialDrop(opts: { seed?: number; days?: number } = {}): SyntheticStream {
  const from = Date.parse('2025-01-06T00:00:00Z');
  const rate = (t: number) => {
    const h = (((t % DAY) + DAY) % DAY) / HOUR;
    return 3 + 17 * Math.max(0, Math.sin(((h - 6) / 18) * Math.PI));
  };
  const drop = { start: from + 21 * DAY + 15 * HOUR, end: from + 21 * DAY + 16 * HOUR };
  return build('partial-drop', from, opts.days ?? 28, rate, [], [], opts.seed ?? 1, [drop]);
}
