/**
 * Learned limits: a stream's normal arrival process by time of week, and the silence limits it
 * implies.
 *
 * Learning (ArrivalModel)
 * - Counts per time-of-week bucket (default 168 hourly buckets, in the check's time zone; public
 *   holidays count as Sunday), folded into decayed sums when a bucket closes: C_j <- d*C_j + count,
 *   W_j <- d*W_j + 1, with d from the half-life (weeks fade). Empty buckets are folded as zeros.
 *   While a time-of-week bucket has few weeks behind it, its estimate is shrunk towards the pooled
 *   time-of-day profile (every day's same hour), so a day of history is already useful.
 * - `observe(at)` is O(1) on the hot path: a compare, two counts and the rescaled gap.
 * - Everything the limits depend on changes only at sub-window boundaries (bucket / 12, 5 min for
 *   hourly buckets): limits are stable between them (`nextChangeAt`).
 * - Over-dispersion: the negative-binomial (Poisson-gamma) shape r (Var = m + m^2/r), fitted by
 *   censored likelihood on a grid of 1/r, from sub-window counts and from whole buckets against
 *   their prediction (`dispersion()`).
 * - Empirical gaps: every gap is rescaled to the number of events expected in it (time-rescaling:
 *   Exp(1) for a Poisson stream); the tail of that distribution beyond u = 3 is fitted with an
 *   exponential (peaks over threshold), which captures bursty streams whose gaps are longer.
 * - Level: an EWMA of observed / expected sub-window counts over 30 min (longer for a sparse
 *   stream: at least 30 expected events), clamped to [0.05, 1]. A slow day, an unlisted holiday or a partial outage lengthens the limits (never
 *   shortens them); a partial outage is the rate-drop check's job (rate-drop.ts).
 *
 * Limits (LearnedLimits, the engine's LimitModel)
 * - A silence starting at `since` is judged by the number of events expected in it,
 *   X(since, t) = level * integral of the learned rate from since to t (buckets walked, so a silence
 *   that runs from a busy hour into a quiet one is judged by both). The deadline is the first t at
 *   which X reaches the threshold x*, clamped to [since + min, since + max].
 * - x* comes from the tolerated false-alarm rate F (falseProbes for quiet, falsePages for page) and
 *   the number of opportunities: every gap between events is one, so the per-gap probability is
 *   q = F * week / (events expected per week). Poisson: x* = -ln q. Negative binomial:
 *   x* = r (q^(-1/r) - 1), with 1/r = over-dispersion + 1/(events behind the bucket's estimate):
 *   a rate learned from few events is uncertain, and a sparse stream's limits grow accordingly.
 *   Tail calibration (nb): silences beyond the reference quiet limit (nb, measured dispersion) are
 *   counted online; when they happen k > 1 times as often as falseProbes tolerates, an extra
 *   dispersion makes that limit's tail probability k times larger, and both limits use it
 *   (`tailExcess`). Silences that reach the page limit are not counted (outages must not teach
 *   the model to tolerate outages). It only ever lengthens limits.
 *   Empirical gaps: x* = u + beta ln(P(X > u) / q). x* is per bucket; the deadline is the first
 *   t at which X reaches the x* of the bucket t is in.
 * - No history yet (less than `warmup` observed): the bounds (max) apply, source 'bounds'.
 */
import type { LimitDescription, LimitModel } from '../checks/types.ts';
import type { LearnConfig, LimitModelKind } from './config.ts';
import { TimeOfWeek, type BucketRef } from './time-of-week.ts';
import nbLogPmf from '@stdlib/stats-base-dists-negative-binomial-logpmf';
import nbCdf from '@stdlib/stats-base-dists-negative-binomial-cdf';
import { lowerTail } from './rate-drop.ts';
import { formatDuration } from '../lib/duration.ts';

const WEEK = 7 * 86_400_000;
const DAY_MS = 86_400_000;
/**
 * The longest a learned limit waits where nothing is expected (then it pages: three weeks of
 * silence is news). Under the 24.8 days a Node timer can wait.
 */
const HORIZON_MS = 3 * WEEK;
/**
 * `max` pages a silence only when at least this many events were expected in it (P(none) = 5%
 * for a Poisson stream): under it, nothing was really expected and the learned limit decides.
 */
const MAX_EXPECTED = 3;
/** Tail calibration prior: this many weeks of exceedances at exactly the tolerated rate. */
const CAL_PRIOR_WEEKS = 1;
const GAP_U = 3;
const GAP_CAP = 30;
const GAP_MIN_TAIL = 50;
const LEVEL_PRIOR = 5;
const LEVEL_MIN = 0.05;
const ADAPT_WINDOW_MS = 30 * 60_000;
const ADAPT_EVENTS = 30;
/** Rate-drop baseline (`rateBaseline`): prior weight in expected events, and half-life. */
const RD_PRIOR = 50;
const RD_HALF_LIFE_MS = 3 * 3_600_000;
/**
 * A closed bucket counts at most this many times (+3) what was expected of it. A deadman cares how
 * low normal traffic goes: a news spike must not inflate next week's normal for that hour (AAPL,
 * Tuesday 03:00 UTC, 2015-04-07: 13x normal; at 3x the following Tuesday paged after 43 s of
 * silence). Real growth is learned more slowly, on the safe side (longer limits meanwhile).
 */
const SPIKE_CAP = 1.5;
/**
 * `bucket: auto`: the candidates, coarsest first (1 h unless the first two days show traffic
 * lumped within the hour the same way each day: a nightly batch of ten minutes, 300 events in 2
 * of 12 sub-windows; see `lumpy`).
 */
export const AUTO_BUCKETS: readonly number[] = [3_600_000, 1_800_000, 900_000, 600_000, 300_000];
const LUMPY_P = 1e-4;
const LUMPY_SHARE = 0.05;
/** Recorded warm-up sub-windows at most (a week of 5-minute ones). */
const WARM_SUBS_MAX = 2016;
/** Weight (in weeks) of the pooled time-of-day profile in a time-of-week estimate. */
const POOL_WEIGHT = 1;
/** Events the pooled day profile is worth at most in a weekend bucket's estimate (its support). */
const POOL_SUPPORT = 3;
/** Weeks of its own history after which a time-of-week bucket no longer borrows from the pooled day profile. */
const POOL_FADE_WEEKS = 2;
/**
 * The pooled profile is dropped from a bucket whose own history has under this share of what the
 * pool promised, once the promise was at least POOL_REFUTE_EVENTS events (P(0) < 1% by chance).
 */
const POOL_REFUTE_SHARE = 0.1;
const POOL_REFUTE_EVENTS = 5;
/**
 * The over-dispersions 1/r whose likelihood is tracked (censored negative binomial, see
 * `fitDispersion`): from practically Poisson to a stream whose rate varies tenfold.
 */
const DISPERSION_GRID = [1e-4, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5] as const;
/** The dispersion used is this quantile of its posterior: thin evidence errs towards longer limits. */
const DISPERSION_QUANTILE = 0.9;

export interface ModelState {
  v: 1;
  bucketMs: number;
  timezone: string;
  /** Per time-of-week bucket: decayed sum of counts and of weeks seen. */
  counts: number[];
  weeks: number[];
  /** Per time-of-day slot: decayed sum of counts and of days seen. */
  dayCounts: number[];
  days: number[];
  cur: { abs: number; index: number; start: number; end: number; count: number; subEnd: number; subCount: number; predicted?: number; tainted?: boolean; subTainted?: boolean; from?: number; to?: number; skip?: [number, number] } | null;
  firstAt: number | null;
  lastAt: number | null;
  observedMs: number;
  /** Moment estimate of the dispersion in states saved before the likelihood fit (ignored). */
  disp?: [number, number];
  /** Decayed log-likelihood of the sub-window counts under each DISPERSION_GRID value (censored above the expectation). Absent in older states. */
  dispLL?: number[];
  /** The same for whole buckets against the count predicted when the bucket opened (week-to-week error of the profile). Absent in older states. */
  dispBucketLL?: number[];
  /** Rescaled gaps: decayed count, count beyond u, sum of capped excess beyond u. */
  gaps: [number, number, number];
  /** Level EWMA: observed, expected, at. */
  level: [number, number, number];
  /** Tail calibration: decayed count of silences beyond the reference quiet limit, decayed ms observed. Absent in older states. */
  exceed?: [number, number];
  /** Rate-drop baseline: decayed observed and expected counts of the windows judged normal, and when last updated. Absent in older states. */
  rdLevel?: [number, number, number];
  /** `bucket: auto`, while warming up: the sub-windows closed so far, flat [start, count, …]. */
  warmSubs?: number[];
  /** `bucket: auto`: the bucket has been chosen (it is `bucketMs`). */
  bucketChosen?: boolean;
}

export interface SeedBucket {
  start: number;
  count: number;
  bucketMs: number;
}

export class ArrivalModel {
  tow!: TimeOfWeek;
  /** The config in force (with `bucket: auto`, the bucket chosen). */
  config!: LearnConfig;
  private s!: ModelState;
  /** Expected events per ms, per time-of-week bucket (0 = unknown). */
  private rates!: Float64Array;
  private perWeek = 0;
  /** Events behind each bucket's estimate (the Gamma posterior's shape). */
  private support!: Float64Array;
  /**
   * x* per time-of-week bucket, for quiet and page: the parameters shared by every bucket (null =
   * recompute); each bucket's value is computed on demand into `thrCache`, since a lookup touches the
   * current bucket and the few a silence crosses, not all of them.
   */
  private thresholds: { qq: number; qp: number; extra: number; quietExtra: number; gen: number } | null = null;
  /** The per-bucket cache behind `thresholds`: a value is current when its stamp is the parameters' `gen`. */
  private thrCache = { quiet: new Float64Array(0), page: new Float64Array(0), ref: new Float64Array(0), quietGen: new Uint32Array(0), pageGen: new Uint32Array(0), refGen: new Uint32Array(0) };
  private thrGen = 0;
  private decayWeek!: number;
  private decayDay!: number;
  private decayFold!: number;
  private decaySub!: number;
  /** Seeding from counts: no sub-window (dispersion) learning, counts only. */
  private seeding = false;
  /** Seeding with source buckets no longer than a sub-window: sub-window counts are real. */
  private seedFine = false;
  /** Bumped whenever limits may change (at sub-window and bucket boundaries only). */
  version = 0;
  private learnedFlag = false;
  private dispCache: number | null = null;

  constructor(config: LearnConfig, state?: ModelState) {
    // `bucket: auto`: a state saved with a bucket the model chose is its own.
    if (config.bucketAuto && state && state.v === 1 && AUTO_BUCKETS.includes(state.bucketMs)) config = { ...config, bucket: state.bucketMs };
    this.init(config, state);
  }

  private init(config: LearnConfig, state?: ModelState): void {
    this.config = config;
    this.thresholds = null;
    this.dispCache = null;
    this.tow = new TimeOfWeek(config.timezone, config.bucket, config.holidays);
    const halfLifeWeeks = Math.max(config.halfLife / WEEK, 1e-3);
    this.decayWeek = 0.5 ** (1 / halfLifeWeeks);
    this.decayDay = this.decayWeek ** (1 / 7);
    this.decayFold = this.decayWeek ** (1 / this.tow.perWeek);
    this.decaySub = this.decayFold ** (this.subMs() / config.bucket);
    const nb = this.tow.perWeek;
    const nd = this.tow.perDay;
    const fresh: ModelState = {
      v: 1,
      bucketMs: config.bucket,
      timezone: config.timezone,
      counts: new Array(nb).fill(0),
      weeks: new Array(nb).fill(0),
      dayCounts: new Array(nd).fill(0),
      days: new Array(nd).fill(0),
      cur: null,
      firstAt: null,
      lastAt: null,
      observedMs: 0,
      dispLL: new Array(DISPERSION_GRID.length).fill(0),
      dispBucketLL: new Array(DISPERSION_GRID.length).fill(0),
      gaps: [0, 0, 0],
      level: [0, 0, 0],
      exceed: [0, 0],
    };
    // A state saved with another bucket size or zone cannot be reused: start over (bounds apply).
    this.s = state && state.v === 1 && state.bucketMs === config.bucket && state.timezone === config.timezone && state.counts.length === nb ? structuredClone(state) : fresh;
    if (this.s !== fresh) {
      // Both fits of a state saved before them start from a weak prior around its old estimate.
      const sub = restoreGrid(this.s.dispLL, this.s.disp);
      const bucket = restoreGrid(this.s.dispBucketLL, this.s.disp);
      if (sub) this.s.dispLL = sub;
      else delete this.s.dispLL;
      if (bucket) this.s.dispBucketLL = bucket;
      else delete this.s.dispBucketLL;
    }
    this.rates = new Float64Array(nb);
    this.support = new Float64Array(nb);
    for (let i = 0; i < nb; i++) this.rates[i] = this.estimate(i);
    this.recomputeWeek();
    this.learnedFlag = this.learned();
  }

  // ---- learning ---------------------------------------------------------------------------

  /**
   * `n` events somewhere in [from, to), known only as a count (an InfluxDB-fed check's points per
   * polled interval): shared out over the sub-windows the interval covers, in proportion to the
   * time covered. O(sub-windows), not O(n); no gap statistics (the gaps are unknown). After it the
   * last event counts as `to` when n > 0.
   */
  observeCount(from: number, to: number, n: number): void {
    const s = this.s;
    if (s.lastAt !== null && from < s.lastAt) from = s.lastAt;
    if (!(to > from) || !(n >= 0)) return;
    let left = n;
    let t = from;
    while (t < to) {
      if (s.cur === null || t >= s.cur.subEnd) this.advanceTo(t);
      const cur = s.cur!;
      const end = Math.min(to, cur.subEnd > t ? cur.subEnd : cur.end);
      const share = end >= to ? left : (n * (end - t)) / (to - from);
      cur.count += share;
      cur.subCount += share;
      left -= share;
      if (s.firstAt === null && share > 0) s.firstAt = t;
      if (end <= t) break;
      t = end;
    }
    if (n > 0) s.lastAt = to;
    this.advanceTo(to);
  }

  /**
   * The model watched until `from` and nothing from then until `t` (the service was down): that
   * time is learned neither as silence nor as traffic. Everything up to `from` is closed as usual,
   * the bucket in progress counts as the fraction it was watched, buckets wholly inside the gap
   * are skipped, and the model resumes at `t` in the middle of its bucket. A gap shorter than a
   * sub-window is ignored (treated as watched).
   */
  skipTo(from: number, t: number): void {
    const s = this.s;
    if (s.cur === null) return;
    if (s.lastAt !== null && from < s.lastAt) from = s.lastAt;
    if (!(t - from >= this.subMs())) return;
    this.advanceTo(from);
    const cur = s.cur!;
    if (this.tow.locate(t).abs === cur.abs) {
      // Back within the same bucket: it folds once, as the fraction watched around the gap.
      cur.skip = cur.skip ? [Math.min(cur.skip[0], from), Math.max(cur.skip[1], t)] : [from, t];
    } else {
      cur.to = from;
      this.closeSubs(cur.end);
      this.fold(cur);
      s.cur = this.open(this.tow.locate(t), t);
    }
    // The next gap is measured from the restart, not across the time nobody watched.
    s.lastAt = Math.max(s.lastAt ?? t, t);
    this.thresholds = null;
    this.version++;
  }

  /** One event arrived at `at` (arrival time; events must come in time order, late ones are counted now). */
  observe(at: number): void {
    const s = this.s;
    if (s.lastAt !== null && at < s.lastAt) at = s.lastAt;
    const cur = s.cur;
    if (cur === null || at >= cur.subEnd) this.advanceTo(at);
    s.cur!.count++;
    s.cur!.subCount++;
    if (s.firstAt === null) s.firstAt = at;
    const last = s.lastAt;
    if (last !== null && this.learnedFlag) {
      // The gap, rescaled to the events expected in it (Exp(1) for a Poisson stream).
      const x = this.expectedCount(last, at) * this.level();
      const g = s.gaps;
      g[0] += 1;
      if (x > GAP_U) {
        g[1] += 1;
        g[2] += Math.min(x - GAP_U, GAP_CAP);
        if (this.config.model === 'nb') {
          // Tail calibration: a silence beyond the reference quiet limit. One long enough to page
          // is the incident path's business, not a normal lull (and an outage must not teach the
          // model to tolerate outages): not counted.
          const j = this.tow.locate(at).index;
          const page = this.threshold('page', j);
          if (x >= this.referenceQuiet(j) && x < page) (s.exceed ??= [0, 0])[0] += 1;
          // A page-worthy silence ended in this bucket: its count and this sub-window's say
          // nothing about normal dispersion (an outage must not widen the limits).
          else if (x >= page) s.cur!.tainted = s.cur!.subTainted = true;
        }
      }
    }
    s.lastAt = at;
  }

  /**
   * The next instant at which the limits may change (the end of the current sub-window): limits
   * only change there, never between, so a caller can rely on them between change points.
   */
  nextChangeAt(): number {
    return this.s.cur ? this.s.cur.subEnd : -Infinity;
  }

  /**
   * Seed from history (e.g. InfluxDB counts per bucket), oldest first. No level or gap learning.
   * Source buckets no longer than a sub-window (5 min for hourly buckets) also teach the
   * sub-window dispersion: their counts are what a sub-window would have counted.
   */
  seed(buckets: readonly SeedBucket[]): void {
    const sorted = [...buckets].sort((a, b) => a.start - b.start);
    this.seeding = true;
    const bms = this.config.bucket;
    for (const b of sorted) {
      if (b.count < 0 || !(b.bucketMs > 0)) continue;
      if (this.s.lastAt !== null && b.start < this.s.lastAt) continue;
      this.seedFine = b.bucketMs <= this.subMs();
      // Larger source buckets are spread evenly over the model's buckets they cover.
      const parts = Math.max(1, Math.round(b.bucketMs / bms));
      for (let k = 0; k < parts; k++) {
        const at = b.start + (k * b.bucketMs) / parts;
        this.advanceTo(at);
        this.s.cur!.count += b.count / parts;
        if (this.seedFine) this.s.cur!.subCount += b.count;
        if (this.s.firstAt === null) this.s.firstAt = at;
        this.s.lastAt = at;
      }
      this.advanceTo(b.start + b.bucketMs);
      this.s.lastAt = b.start + b.bucketMs;
    }
    this.seeding = false;
    this.seedFine = false;
    this.version++;
  }

  /** Close every bucket that ended by `t` (empty ones count as zero). Called by observe and seed. */
  advanceTo(t: number): void {
    const s = this.s;
    if (s.cur === null) {
      s.cur = this.open(this.tow.locate(t), t);
      return;
    }
    let guard = 0;
    this.closeSubs(Math.min(t, s.cur.end));
    while (t >= s.cur.end) {
      this.fold(s.cur);
      if (++guard > this.tow.perWeek) {
        // More than a week of nothing: the stream is gone or the service was off; jump.
        s.cur = this.open(this.tow.locate(t), t);
        break;
      }
      s.cur = this.open(this.tow.locate(s.cur.end));
      this.closeSubs(Math.min(t, s.cur.end));
    }
  }

  private subMs(): number {
    return this.config.bucket % 12 === 0 ? this.config.bucket / 12 : this.config.bucket;
  }

  /**
   * Open bucket `b`, observed from `from` on (later than its start when the stream, or the model,
   * begins in the middle of it: that bucket then counts as the fraction of a bucket it covered).
   */
  private open(b: BucketRef, from = b.start): NonNullable<ModelState['cur']> {
    const cur: NonNullable<ModelState['cur']> = { abs: b.abs, index: b.index, start: b.start, end: b.end, count: 0, subEnd: Math.min(b.end, b.start + this.subMs()), subCount: 0 };
    if (from > b.start) cur.from = Math.min(from, b.end);
    // What the profile predicts for this bucket now (the level as it is when the bucket opens).
    // Seeds (history counts) teach this part too: it is the only dispersion they can show.
    // Seeds coarser than a sub-window cannot keep the level: their prediction is unlevelled.
    if (this.learnedFlag) {
      cur.predicted = this.rates[b.index]! * (b.end - (cur.from ?? b.start)) * (this.seeding && !this.seedFine ? 1 : this.level());
    }
    return cur;
  }

  /**
   * True when the silence since the last event has reached the page limit by `t`: such a silence
   * is the incident path's business, and an outage must not teach the model that outages are
   * normal (dispersion and tail calibration skip it).
   */
  private inPageSilence(t: number): boolean {
    const last = this.s.lastAt;
    if (last === null || !this.learnedFlag) return false;
    const x = this.expectedCount(last, t) * this.level();
    return x >= this.threshold('page', this.tow.locate(Math.max(last, t - 1)).index);
  }

  /**
   * Close the sub-windows (bucket/12) of the current bucket that ended by t: their counts against
   * the expectation give the dispersion. Only shortfalls count (doubled: the lower semi-variance),
   * so a news spike does not make quiet look normal.
   */
  private closeSubs(t: number): void {
    const cur = this.s.cur!;
    const len = this.subMs();
    let closed = false;
    while (cur.subEnd <= t && cur.subEnd <= cur.end) {
      closed = true;
      const c = cur.subCount;
      const subLen = cur.subEnd - Math.max(cur.start, cur.subEnd - len);
      const m0 = this.rates[cur.index]! * subLen;
      const silent = !this.seeding && (cur.subTainted === true || this.inPageSilence(cur.subEnd));
      if (silent) cur.tainted = true;
      cur.subTainted = false;
      // A sub-window that began before the model was watching (the stream or the model started,
      // or resumed after a gap, in the middle of it) says nothing: its count is partial.
      const subStart = cur.subEnd - subLen;
      const watched =
        (cur.from === undefined || subStart >= cur.from) &&
        (cur.to === undefined || cur.subEnd <= cur.to) &&
        (cur.skip === undefined || cur.subEnd <= cur.skip[0] || subStart >= cur.skip[1]);
      // Seeds finer than a sub-window count like live sub-windows (level included); coarser ones cannot.
      const real = watched && (!this.seeding || this.seedFine);
      if (real && subLen === len && this.config.bucketAuto && !this.s.bucketChosen) {
        const ws = (this.s.warmSubs ??= []);
        if (ws.length < 2 * WARM_SUBS_MAX) ws.push(subStart, c);
      }
      if (real && this.learnedFlag && !silent) {
        const m = m0 * this.level();
        if (m > 0) {
          const ll = (this.s.dispLL ??= new Array(DISPERSION_GRID.length).fill(0));
          for (let k = 0; k < ll.length; k++) ll[k] = ll[k]! * this.decaySub + censoredLogLik(Math.round(c), m, DISPERSION_GRID[k]!);
          this.dispCache = null;
        }
      }
      // The level learns outages too: after one, traffic back at 15% is judged at that level
      // (skipping them, msft-purchase-03 pages 16 times in the hour after its outage).
      if (real && this.config.adapt && m0 > 0) {
        const l = this.s.level;
        // The window is ADAPT_WINDOW_MS, or longer for a sparse stream: at least ADAPT_EVENTS expected.
        const f = Math.exp(-Math.min(subLen / ADAPT_WINDOW_MS, m0 / ADAPT_EVENTS));
        l[0] = l[0] * f + c;
        l[1] = l[1] * f + m0;
        l[2] = cur.subEnd;
      }
      cur.subCount = 0;
      if (cur.subEnd >= cur.end) {
        cur.subEnd = Infinity;
        break;
      }
      cur.subEnd = Math.min(cur.end, cur.subEnd + len);
    }
    if (cur.subEnd === Infinity) cur.subEnd = cur.end;
    if (closed) {
      this.thresholds = null;
      this.version++;
    }
  }

  private fold(cur: NonNullable<ModelState['cur']>): void {
    const s = this.s;
    const j = cur.index;
    // A bucket observed only over [from, to) counts as that fraction of a bucket.
    const from = cur.from ?? cur.start;
    const to = Math.max(from, Math.min(cur.to ?? cur.end, cur.end));
    const gap = cur.skip ? Math.max(0, Math.min(cur.skip[1], to) - Math.max(cur.skip[0], from)) : 0;
    const watchedMs = to - from - gap;
    // Nothing of it was watched (a gap began at its start): nothing to learn, and no extra decay.
    if (watchedMs <= 0) return;
    const part = watchedMs / (cur.end - cur.start);
    if (this.learnedFlag && cur.predicted !== undefined && cur.predicted > 0 && !cur.tainted && watchedMs > 0) {
      const ll = (s.dispBucketLL ??= new Array(DISPERSION_GRID.length).fill(0));
      const c = Math.round(cur.count); // seeds spread over buckets may be fractional
      const predicted = (cur.predicted * watchedMs) / (cur.end - from);
      for (let k = 0; k < ll.length; k++) ll[k] = ll[k]! * this.decayFold + censoredLogLik(c, predicted, DISPERSION_GRID[k]!);
      this.dispCache = null;
    }
    // Robust to spikes: a bucket counts at most SPIKE_CAP x (+3) what was expected of it.
    const expected = this.rates[j]! * watchedMs;
    // Only against an expectation with at least a bucket's worth of history behind it (its own
    // weeks or the pooled days): a stream's first, partial hour (30 s of points credited as 5
    // minutes) would otherwise cap the next day's same hour at a fraction of its real traffic.
    const backed = s.weeks[j]! >= 1 || s.days[this.tow.daySlot(j)]! >= 1;
    const c = backed && this.learned() && expected > 0 ? Math.min(cur.count, SPIKE_CAP * expected + 3) : cur.count;
    const g = s.gaps;
    g[0] *= this.decayFold;
    g[1] *= this.decayFold;
    g[2] *= this.decayFold;
    if (this.learnedFlag && !this.seeding) {
      const e = (s.exceed ??= [0, 0]);
      e[0] *= this.decayFold;
      e[1] = e[1] * this.decayFold + watchedMs;
    }
    s.counts[j] = s.counts[j]! * this.decayWeek + c;
    s.weeks[j] = s.weeks[j]! * this.decayWeek + part;
    const d = this.tow.daySlot(j);
    s.dayCounts[d] = s.dayCounts[d]! * this.decayDay + c;
    s.days[d] = s.days[d]! * this.decayDay + part;
    s.observedMs += watchedMs;
    // The day profile feeds all seven buckets of this slot.
    for (let k = d; k < this.tow.perWeek; k += this.tow.perDay) this.rates[k] = this.estimate(k);
    this.recomputeWeek();
    // (The bucket just folded is still `cur` here: counted once, in observedMs.)
    this.learnedFlag = s.observedMs >= this.config.warmup && this.perWeek > 0;
    this.thresholds = null;
    this.version++;
  }

  /** Rate (events per ms) of bucket j; also sets support[j], the events behind the estimate. */
  private estimate(j: number): number {
    const s = this.s;
    const d = this.tow.daySlot(j);
    const pool = s.days[d]! > 0 ? s.dayCounts[d]! / s.days[d]! : undefined;
    const w = s.weeks[j]!;
    let perBucket: number;
    let weeks: number;
    // The pooled day profile fills in while a bucket has little history of its own and fades out
    // by POOL_FADE_WEEKS: a constant weight kept weekday traffic in the weekend estimate for good
    // (a stream at 5% on weekends was expected at 15%, every weekend).
    // ...and at once when the bucket's own history refutes it: far fewer events than the pooled
    // profile promised, where that promise was enough for the shortfall to be no accident (a
    // business's first Saturday at 08:00 was empty where the weekdays' 08:00 promised 86 events).
    const refuted = pool !== undefined && w >= 0.5 && pool * w >= POOL_REFUTE_EVENTS && s.counts[j]! < POOL_REFUTE_SHARE * pool * w;
    const pw = refuted ? 0 : POOL_WEIGHT * Math.max(0, 1 - w / POOL_FADE_WEEKS);
    if (w > 0 && pool !== undefined && pw > 0) [perBucket, weeks] = [(s.counts[j]! + pw * pool) / (w + pw), w + pw];
    else if (w > 0) [perBucket, weeks] = [s.counts[j]! / w, w];
    else if (pool !== undefined) [perBucket, weeks] = [pool, POOL_WEIGHT];
    else [perBucket, weeks] = [0, 0];
    // Events behind the estimate: its own plus what is borrowed from the pooled day profile. On
    // Saturdays and Sundays (holidays are Sundays) the borrowed part is worth at most
    // POOL_SUPPORT events however busy the other days are: the weekend is the commonest day that
    // is not like the others (a business's first Saturday, promised Monday's 08:00).
    const own = w > 0 ? s.counts[j]! : 0;
    const borrowed = Math.max(0, perBucket * weeks - own);
    const weekend = Math.floor(j / this.tow.perDay) >= 5;
    this.support[j] = own + (weekend ? Math.min(borrowed, POOL_SUPPORT) : borrowed);
    return perBucket / this.config.bucket;
  }

  private recomputeWeek(): void {
    let sum = 0;
    for (let i = 0; i < this.rates.length; i++) sum += this.rates[i]!;
    this.perWeek = sum * this.config.bucket;
  }

  // ---- what it knows ------------------------------------------------------------------------

  /**
   * Enough history for learned limits: `warmup` watched, counting the bucket in progress up to
   * the last event (a batch that ends mid-bucket and comes back a day later has watched a day,
   * though that bucket folds only at the next event).
   */
  learned(): boolean {
    return this.watchedMs() >= this.config.warmup && this.perWeek > 0;
  }

  /** Time watched: folded buckets, plus the bucket in progress up to the last event. */
  watchedMs(): number {
    const s = this.s;
    const cur = s.cur;
    if (cur === null || s.lastAt === null || s.lastAt <= cur.start) return s.observedMs;
    const from = cur.from ?? cur.start;
    const to = Math.min(s.lastAt, cur.to ?? cur.end, cur.end);
    return s.observedMs + Math.max(0, to - from);
  }

  /** The first event's time (or the first seeded count's), null while the stream has never sent one. */
  firstEventAt(): number | null {
    return this.s.firstAt;
  }

  /**
   * While warming up: the events seen so far (the decayed sums are practically exact within a
   * warm-up) and the first one's time (null before any).
   */
  warmupEvidence(): { events: number; firstAt: number | null } {
    let n = this.s.cur?.count ?? 0;
    for (const c of this.s.counts) n += c;
    return { events: n, firstAt: this.s.firstAt };
  }

  /**
   * The rate-drop baseline: recent observed / expected over the rate-drop windows judged normal,
   * in [LEVEL_MIN, 1], with a prior of RD_PRIOR expected events at 1 and a half-life of
   * RD_HALF_LIFE_MS. After a permanent step down (a customer lost for good) the windows are short
   * of the profile but not drops; within hours the baseline follows, so the next windows are
   * judged against the new level, long before the profile's half-life has learned it. Drop
   * windows never teach it (an outage must not become the normal), and it never exceeds 1.
   */
  rateBaseline(): number {
    const l = this.s.rdLevel;
    if (!l) return 1;
    const b = (l[0] + RD_PRIOR) / (l[1] + RD_PRIOR);
    return b >= 1 ? 1 : b <= LEVEL_MIN ? LEVEL_MIN : b;
  }

  /** A rate-drop window over [from, to) judged normal: `observed` events where the profile expected `expected`. */
  noteRateWindow(from: number, to: number, observed: number, expected: number): void {
    if (!(expected > 0) || !(to > from)) return;
    const l = (this.s.rdLevel ??= [0, 0, from]);
    const f = 0.5 ** (Math.max(0, to - l[2]) / RD_HALF_LIFE_MS);
    l[0] = l[0] * f + observed;
    l[1] = l[1] * f + expected;
    l[2] = to;
  }

  /**
   * `bucket: auto`: once the warm-up and a day more are watched, keep the bucket (1 h) unless the
   * sub-windows seen show traffic lumped within it the same way on two days (`lumpy`); then the coarsest candidate that is not lumpy, relearned from
   * those sub-windows (the warm-up is not lost). Returns true when the bucket changed.
   */
  chooseBucket(): boolean {
    const s = this.s;
    // Two days watched: a lump must recur at the same time of day to be the stream's shape.
    if (!this.config.bucketAuto || s.bucketChosen || !this.learned() || this.watchedMs() < this.config.warmup + DAY_MS) return false;
    const subs = s.warmSubs ?? [];
    const sub = this.subMs();
    const chosen = AUTO_BUCKETS.find((b) => b >= sub && !lumpy(subs, sub, new TimeOfWeek(this.config.timezone, b, this.config.holidays))) ?? sub;
    if (chosen === this.config.bucket) {
      s.bucketChosen = true;
      delete s.warmSubs;
      return false;
    }
    this.init({ ...this.config, bucket: chosen });
    const seeds: SeedBucket[] = [];
    for (let i = 0; i + 1 < subs.length; i += 2) seeds.push({ start: subs[i]!, count: subs[i + 1]!, bucketMs: sub });
    this.s.bucketChosen = true;
    this.seed(seeds);
    this.thresholds = null;
    this.version++;
    return true;
  }

  /** Learned expected events per week (all buckets). */
  eventsPerWeek(): number {
    return this.perWeek;
  }

  /** Learned rate (events per ms) at t, before the level adjustment; 0 when unknown. */
  rateAt(t: number): number {
    return this.rates[this.tow.locate(t).index]!;
  }

  /** The current level: recent observed / expected, in [0.05, 1] (1 without adaptation). */
  level(): number {
    if (!this.config.adapt) return 1;
    const [obs, exp] = this.s.level;
    const l = (obs + LEVEL_PRIOR) / (exp + LEVEL_PRIOR);
    return l >= 1 ? 1 : l <= LEVEL_MIN ? LEVEL_MIN : l;
  }

  /**
   * Over-dispersion 1/r (0 = Poisson), the larger of two fits, each the 0.9 quantile of its
   * posterior on DISPERSION_GRID (flat prior over the grid, i.e. roughly log-uniform; thin
   * evidence errs long):
   * - sub-windows (5 min) against the levelled expectation: how lumpy the stream is right now;
   * - whole buckets against what the profile predicted when the bucket opened: how far the
   *   time-of-week profile itself is off from week to week (a sparse stream whose Tuesday 11:00
   *   saw 14, then 36, then 1 events).
   * The likelihood of a window is the negative binomial's for a count below its expectation and
   * P(N >= expectation) above it: only shortfalls inform it (a burst is not evidence that quiet is
   * normal), and unlike a moment estimate it is not biased for sparse windows (an expectation of
   * 0.4 events is judged by P(0), not by a variance Poisson noise swamps). Windows inside a silence
   * that reached the page limit are skipped: an outage must not teach the model to tolerate outages.
   */
  dispersion(): number {
    if (this.dispCache !== null) return this.dispCache;
    // A fit without evidence yet (seeded history has buckets but no sub-windows) does not count;
    // with none at all, the prior's quantile (long limits) applies.
    const sub = posteriorQuantile(this.s.dispLL, DISPERSION_QUANTILE);
    const bucket = posteriorQuantile(this.s.dispBucketLL, DISPERSION_QUANTILE);
    this.dispCache = sub === null && bucket === null ? posteriorQuantile(null, DISPERSION_QUANTILE, true)! : Math.max(sub ?? 0, bucket ?? 0);
    return this.dispCache;
  }

  /** Over-dispersion at t including the uncertainty of that bucket's estimate (1/r of the predictive). */
  dispersionAt(t: number): number {
    const n = this.support[this.tow.locate(t).index]!;
    return this.dispersion() + (n > 0 ? 1 / n : Infinity);
  }

  /** Events expected in [from, to) from the learned profile (no level adjustment). */
  expectedCount(from: number, to: number): number {
    const cur = this.s.cur;
    if (cur !== null && from >= cur.start && to <= cur.end) return this.rates[cur.index]! * (to - from);
    let t = from;
    let sum = 0;
    let guard = 0;
    while (t < to && guard++ < 10_000) {
      const b = this.tow.locate(t);
      const end = Math.min(b.end, to);
      sum += this.rates[b.index]! * (end - t);
      t = end;
    }
    return sum;
  }

  /** Threshold on the expected count of a silence (x*) in time-of-week bucket `index`. */
  threshold(which: 'quiet' | 'page', index: number): number {
    const t = this.thresholds ?? this.computeThresholds();
    const c = this.thrCache;
    if (which === 'quiet') {
      if (c.quietGen[index] !== t.gen) {
        c.quiet[index] = this.thresholdFor(this.config.model, t.qq, this.support[index]!, t.quietExtra);
        c.quietGen[index] = t.gen;
      }
      return c.quiet[index]!;
    }
    if (c.pageGen[index] !== t.gen) {
      c.page[index] = this.thresholdFor(this.config.model, t.qp, this.support[index]!, t.extra);
      c.pageGen[index] = t.gen;
    }
    return c.page[index]!;
  }

  /** The quiet x* of the uncalibrated model (nb with the measured dispersion): silences beyond it are counted. */
  private referenceQuiet(index: number): number {
    const t = this.thresholds ?? this.computeThresholds();
    const c = this.thrCache;
    if (c.refGen[index] !== t.gen) {
      c.ref[index] = this.thresholdFor('nb', t.qq, this.support[index]!);
      c.refGen[index] = t.gen;
    }
    return c.ref[index]!;
  }

  private computeThresholds(): NonNullable<typeof this.thresholds> {
    const qq = this.perGapProbability(this.config.falseProbes);
    const qp = this.perGapProbability(this.config.falsePages);
    const n = this.rates.length;
    const extra = this.config.model === 'nb' ? this.tailExcess(qq) : 0;
    // The quiet limit alone may also come in when silences beyond it are rarer than tolerated
    // (`tailShortfall`): a probe proves or pages, so spending the tolerance buys detection speed.
    const quietExtra = extra > 0 || this.config.model !== 'nb' ? extra : -this.tailShortfall(qq);
    if (this.thrCache.quiet.length !== n) {
      this.thrCache = { quiet: new Float64Array(n), page: new Float64Array(n), ref: new Float64Array(n), quietGen: new Uint32Array(n), pageGen: new Uint32Array(n), refGen: new Uint32Array(n) };
    }
    // Stamps start at 0, generations at 1 (wrapping past 2^32 - 1 back to 1 would take years of sub-windows).
    this.thrGen = (this.thrGen % 0xffff_fffe) + 1;
    this.thresholds = { qq, qp, extra, quietExtra, gen: this.thrGen };
    return this.thresholds;
  }

  /**
   * Tail calibration: silences beyond the reference quiet limit should occur at the tolerated
   * falseProbes rate. When they occur k times as often, the lower tail is heavier than the measured
   * dispersion says: the extra dispersion is the one under which the reference limit is exceeded
   * with k times the per-gap probability. Only ever lengthens limits.
   */
  tailExcess(qq = this.perGapProbability(this.config.falseProbes)): number {
    const e = this.s.exceed;
    if (this.config.tailCalibration === false || !e || !(e[1] > 0)) return 0;
    const f = this.config.falseProbes;
    const priorMs = CAL_PRIOR_WEEKS * WEEK;
    const k = (e[0] + f * priorMs) / (f * (e[1] + priorMs));
    if (!(k > 1)) return 0;
    const target = Math.log(Math.min(0.5, k * qq));
    const phi0 = this.dispersion();
    const x = this.thresholdFor('nb', qq);
    if (!Number.isFinite(x)) return 0;
    // log P(no event in a silence of x expected events) under dispersion phi; it grows with phi.
    const logp = (phi: number) => (phi <= 1e-12 ? -x : -Math.log1p(x * phi) / phi);
    if (logp(phi0) >= target) return 0;
    let lo = phi0;
    let hi = Math.max(phi0 * 2, 0.01);
    for (let i = 0; i < 60 && logp(hi) < target; i++) hi *= 2;
    for (let i = 0; i < 50; i++) {
      const mid = (lo + hi) / 2;
      if (logp(mid) < target) lo = mid;
      else hi = mid;
    }
    return hi - phi0;
  }

  /**
   * Tail calibration the other way, for the quiet limit only: when silences beyond the reference
   * quiet limit occur k < 1 times as often as falseProbes tolerates (the same decayed count and
   * prior as `tailExcess`), the measured dispersion overstates the lower tail; the dispersion
   * removed is the one under which the reference limit would be exceeded k times as often as
   * tolerated (down to Poisson). The page limit never uses it.
   */
  tailShortfall(qq = this.perGapProbability(this.config.falseProbes)): number {
    const e = this.s.exceed;
    if (this.config.tailCalibration === false || !e || !(e[1] > 0)) return 0;
    const f = this.config.falseProbes;
    const priorMs = CAL_PRIOR_WEEKS * WEEK;
    const k = (e[0] + f * priorMs) / (f * (e[1] + priorMs));
    if (!(k < 1)) return 0;
    const phi0 = this.dispersion();
    const x = this.thresholdFor('nb', qq);
    if (!Number.isFinite(x) || phi0 <= 1e-9) return 0;
    // log P(no event in a silence of x expected events) under dispersion phi; it grows with phi.
    const logp = (phi: number) => (phi <= 1e-12 ? -x : -Math.log1p(x * phi) / phi);
    const target = Math.log(k * qq);
    if (logp(0) >= target) return phi0;
    let lo = 0;
    let hi = phi0;
    for (let i = 0; i < 50; i++) {
      const mid = (lo + hi) / 2;
      if (logp(mid) < target) lo = mid;
      else hi = mid;
    }
    return phi0 - lo;
  }

  /** x* at instant t (for reports and the API). */
  thresholdAt(which: 'quiet' | 'page', t: number): number {
    return this.threshold(which, this.tow.locate(t).index);
  }

  /** Per-gap probability for a tolerated false-alarm rate (alarms per ms): q = F * week / events per week. */
  perGapProbability(falsePerMs: number): number {
    if (this.perWeek <= 0) return 1;
    return Math.min(1, (falsePerMs * WEEK) / this.perWeek);
  }

  /**
   * x* for a per-gap probability q. nb: the silence of a Poisson-gamma stream, whose shape combines
   * the measured over-dispersion and the uncertainty of the estimate itself (a rate learned from n
   * events has a Gamma posterior of shape n): 1/r = dispersion + 1/n, x* = r (q^(-1/r) - 1).
   */
  thresholdFor(kind: LimitModelKind, q: number, support = Infinity, extraDispersion = 0): number {
    const poisson = -Math.log(q);
    if (kind === 'poisson') return poisson;
    if (kind === 'nb') {
      if (!(support > 0)) return Infinity;
      const phi = Math.max(0, this.dispersion() + extraDispersion) + 1 / support;
      if (phi <= 1e-9) return poisson;
      const r = 1 / phi;
      const e = poisson / r;
      return e > 700 ? Infinity : r * Math.expm1(e);
    }
    const [n, tail, excess] = this.s.gaps;
    if (tail < GAP_MIN_TAIL || n <= 0) return poisson;
    const pu = tail / n;
    const beta = excess / tail;
    if (q >= pu) return Math.min(poisson, GAP_U);
    return GAP_U + beta * Math.log(pu / q);
  }

  /** Gap-tail fit (for reports): P(X > u) and the mean excess beta. */
  gapTail(): { samples: number; pTail: number; beta: number } {
    const [n, tail, excess] = this.s.gaps;
    return { samples: n, pTail: n > 0 ? tail / n : 0, beta: tail > 0 ? excess / tail : 1 };
  }

  /** The bucket at t has history (its own weeks or the pooled day profile): a rate of 0 there means nothing is expected, not "unknown". */
  knownAt(t: number): boolean {
    const j = this.tow.locate(t).index;
    return this.s.weeks[j]! > 0 || this.s.days[this.tow.daySlot(j)]! > 0;
  }

  /**
   * A silence over [from, to): the events expected in it (times the level, as the limits judge
   * it), and whether it crosses a bucket with no history at all (where nothing is known).
   */
  expectedSilence(from: number, to: number): { expected: number; unknown: boolean } {
    let t = from;
    let sum = 0;
    let unknown = false;
    let guard = 0;
    while (t < to && guard++ < 100_000) {
      const b = this.tow.locate(t);
      const end = Math.min(b.end, to);
      sum += this.rates[b.index]! * (end - t);
      if (!unknown && !(this.s.weeks[b.index]! > 0 || this.s.days[this.tow.daySlot(b.index)]! > 0)) unknown = true;
      t = end;
    }
    return { expected: sum * this.level(), unknown };
  }

  /**
   * First instant t at which the events expected since `since` (times the level) reach the
   * threshold of the bucket t is in (the limit in force at t), or Infinity if not before `limit`.
   */
  crossing(since: number, which: 'quiet' | 'page', limit: number): number {
    const lvl = this.level();
    let have = 0;
    let t = since;
    let guard = 0;
    while (t < limit && guard++ < 100_000) {
      const b = this.tow.locate(t);
      const end = Math.min(b.end, limit);
      const r = this.rates[b.index]!;
      const need = this.threshold(which, b.index) / lvl;
      if (have >= need) return t;
      if (r > 0) {
        const more = r * (end - t);
        if (have + more >= need) return t + (need - have) / r;
        // A bucket the silence has left behind counts as the evidence it carries: the events
        // expected in it under its estimate's own uncertainty (Gamma with the events behind it as
        // shape n: -ln P(none) = n ln(1 + m / n)). A well-known hour counts practically in full; one
        // borrowed from other days (a first Sunday promised weekday traffic) counts little.
        const n = this.support[b.index]!;
        have += n > 0 ? n * Math.log1p(more / n) : 0;
      }
      t = end;
    }
    return Infinity;
  }

  toJSON(): ModelState {
    return structuredClone(this.s);
  }

  /** Silences beyond the reference quiet limit, decayed: [count, ms watched] (null before any). */
  exceedances(): readonly [number, number] | null {
    return this.s.exceed ? [this.s.exceed[0], this.s.exceed[1]] : null;
  }

  static fromJSON(config: LearnConfig, state: ModelState): ArrivalModel {
    return new ArrivalModel(config, state);
  }
}

/**
 * A bucket size (`tow`) is lumpy for the recorded sub-windows (flat [start, count]) when some time
 * of day is lumped the same way on two days: on each, its (near-)empty sub-windows are ones its
 * events, spread evenly, would leave so empty with probability under LUMPY_P (C(k, e) times the
 * Poisson lower tail, k the sub-windows watched), and the busy sub-windows are mostly the
 * same ones (a batch at 02:00-02:10 every night). A burst of news lumps one day, not the same
 * minutes every day.
 */
function lumpy(subs: readonly number[], subMs: number, tow: TimeOfWeek): boolean {
  if (Math.round(tow.bucketMs / subMs) <= 1) return false;
  const groups = new Map<number, { slot: number; counts: Array<[number, number]>; n: number }>();
  for (let i = 0; i + 1 < subs.length; i += 2) {
    const b = tow.locate(subs[i]!);
    const g = groups.get(b.abs) ?? { slot: b.index % tow.perDay, counts: [], n: 0 };
    g.counts.push([Math.round((subs[i]! - b.start) / subMs), subs[i + 1]!]);
    g.n += subs[i + 1]!;
    groups.set(b.abs, g);
  }
  const lumped = new Map<number, Set<number>[]>();
  for (const g of groups.values()) {
    const seen = g.counts.length;
    // Near-empty: under LUMPY_SHARE of an even share (a batch's last straggler after 02:10 is no traffic).
    const busy = new Set<number>();
    let few = 0;
    for (const [pos, c] of g.counts) {
      if (c >= LUMPY_SHARE * (g.n / seen)) busy.add(pos);
      else few += c;
    }
    const empty = seen - busy.size;
    if (seen < 2 || empty === 0 || busy.size === 0) continue;
    let logC = 0;
    for (let j = 0; j < empty; j++) logC += Math.log((seen - j) / (j + 1));
    // P(those sub-windows got so few | the events spread evenly): Poisson lower tail.
    if (logC + Math.log(lowerTail(few, (g.n * empty) / seen, 0)) >= Math.log(LUMPY_P)) continue;
    const days = lumped.get(g.slot) ?? [];
    for (const other of days) {
      let common = 0;
      for (const p of busy) if (other.has(p)) common++;
      if (common >= 0.5 * Math.max(busy.size, other.size)) return true;
    }
    days.push(busy);
    lumped.set(g.slot, days);
  }
  return false;
}

/**
 * Log-likelihood of a sub-window count `c` with expectation `m` under a negative binomial of
 * over-dispersion `phi` (r = 1/phi), censored at the expectation: counts at or above it only say
 * "not short".
 */
function censoredLogLik(c: number, m: number, phi: number): number {
  const r = 1 / phi;
  const p = r / (r + m);
  if (c < m) return Math.max(nbLogPmf(c, r, p), LL_FLOOR);
  const k = Math.ceil(m);
  if (k <= 0) return 0;
  const tail = 1 - nbCdf(k - 1, r, p);
  return tail > 0 ? Math.max(Math.log(tail), LL_FLOOR) : LL_FLOOR;
}

/**
 * One window's log-likelihood is never below this (exp underflows there). Without a floor a single
 * sharp drop makes a grid value -Infinity for good, and JSON saves it as null.
 */
const LL_FLOOR = -745;

/**
 * A saved log-likelihood grid made usable: non-finite entries (null in JSON) become the worst
 * finite entry minus a window's floor. A state saved before the fit existed gets a weak prior
 * around its old moment estimate (a day's worth of windows would outweigh it), not the flat
 * prior (whose 0.9 quantile sends every limit to max for hours after an upgrade).
 */
function restoreGrid(ll: unknown, legacy?: [number, number]): number[] | undefined {
  if (Array.isArray(ll) && ll.length === DISPERSION_GRID.length) {
    const finite = ll.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    const worst = finite.length ? Math.min(...finite) : 0;
    return ll.map((v) => (typeof v === 'number' && Number.isFinite(v) ? v : worst + LL_FLOOR));
  }
  if (legacy && legacy[1] > 0) {
    const phi0 = Math.max(legacy[0] / legacy[1], DISPERSION_GRID[0]);
    return DISPERSION_GRID.map((phi) => -2 * (Math.log(phi) - Math.log(phi0)) ** 2);
  }
  return undefined;
}

/**
 * The q-quantile of a posterior over DISPERSION_GRID given the log-likelihoods (flat prior),
 * interpolated in log phi; null when they carry no evidence (all equal), unless `prior`.
 */
function posteriorQuantile(ll: readonly number[] | null | undefined, q: number, prior = false): number | null {
  let max = -Infinity;
  let min = Infinity;
  for (const v of ll ?? []) {
    if (v > max) max = v;
    if (v < min) min = v;
  }
  if (!ll || !(max - min > 1e-9)) {
    if (!prior) return null;
    ll = DISPERSION_GRID.map(() => 0);
    max = 0;
  }
  const w = ll.map((v) => Math.exp(v - max));
  const total = w.reduce((a, b) => a + b, 0);
  let acc = 0;
  for (let k = 0; k < w.length; k++) {
    const next = acc + w[k]! / total;
    if (next >= q) {
      if (k === 0) return DISPERSION_GRID[0];
      const f = (q - acc) / (next - acc);
      const lo = Math.log(DISPERSION_GRID[k - 1]!);
      const hi = Math.log(DISPERSION_GRID[k]!);
      return Math.exp(lo + f * (hi - lo));
    }
    acc = next;
  }
  return DISPERSION_GRID[DISPERSION_GRID.length - 1]!;
}

export interface LearnedLimitsOptions {
  /** A fixed quietAfter (the check said a duration, not 'auto'). */
  quietAfterMs?: number;
  /** A fixed pageAfter. */
  pageAfterMs?: number;
  /** The limits while there is no history (default: max for both). */
  fallbackQuietMs?: number;
  fallbackPageMs?: number;
}

/**
 * Recovery (`trafficBack`): a down check recovers when its last events, up to this many (as many
 * as 5 minutes bring at the learned rate, at least 2), came at no less than 1 - minDrop of the
 * learned normal (the rate-drop notion of normal; 20% by default). A 10% trickle passes that with
 * 30 events by chance about once in a thousand tries.
 */
const RECOVERY_EVENTS = 30;
const RECOVERY_WINDOW_MS = 5 * 60_000;
/**
 * `trafficDrop` judges a probe's wait only when the learned normal expected at least this many events
 * in it: with 5 expected, no event at all is a 0.7% chance (Poisson), on top of a lost probe.
 */
const DROP_MIN_EXPECTED = 5;

/** The engine's LimitModel on top of an ArrivalModel. Feed it events with `observe`. */
export class LearnedLimits implements LimitModel {
  readonly model: ArrivalModel;
  /** The last RECOVERY_EVENTS arrivals (a ring; not saved: after a restart recovery waits for new ones). */
  private readonly recent = new Float64Array(RECOVERY_EVENTS);
  private recentN = 0;
  private readonly memoVersion = [-1, -1];
  private readonly memoSince = [NaN, NaN];
  private readonly memoValue = [0, 0];

  constructor(
    readonly config: LearnConfig,
    readonly options: LearnedLimitsOptions = {},
    state?: ModelState,
  ) {
    this.model = new ArrivalModel(config, state);
  }

  observe(at: number): void {
    this.model.observe(at);
    this.remember(at);
    if (this.config.bucketAuto) this.model.chooseBucket();
  }

  observeCount(from: number, to: number, n: number): void {
    this.model.observeCount(from, to, n);
    // The arrivals are unknown: spread evenly over the interval for recovery's sake.
    const k = Math.min(Math.floor(n), RECOVERY_EVENTS);
    for (let i = 1; i <= k; i++) this.remember(from + ((to - from) * i) / k);
    if (this.config.bucketAuto) this.model.chooseBucket();
  }

  private remember(at: number): void {
    this.recent[this.recentN % RECOVERY_EVENTS] = at;
    this.recentN++;
  }

  /**
   * Traffic is back near its normal at `at` (an event there, observed yet or not): the last k
   * arrivals since the check went down (k = RECOVERY_EVENTS, or as many as RECOVERY_WINDOW_MS
   * brings, at least 2) span a
   * time in which the learned normal (at the rate-drop baseline) expected at most (k - 1) /
   * (1 - minDrop) events. Before the model has learned, or where nothing was expected, any event is.
   */
  trafficBack(at: number, downSince = -Infinity): boolean {
    const m = this.model;
    if (!m.learned()) return true;
    const want = Math.max(2, Math.min(RECOVERY_EVENTS, Math.round(m.rateAt(at) * RECOVERY_WINDOW_MS)));
    const times: number[] = [at];
    let skippedSelf = false;
    for (let i = this.recentN - 1; i >= Math.max(0, this.recentN - RECOVERY_EVENTS) && times.length < want; i--) {
      const t = this.recent[i % RECOVERY_EVENTS]!;
      if (t > at) continue;
      if (t === at && !skippedSelf) {
        skippedSelf = true; // this event, observed already (the backtest observes first)
        continue;
      }
      if (t < downSince) break; // only what came after the check went down
      times.push(t);
    }
    if (times.length < want) return false;
    const oldest = times[times.length - 1]!;
    const expected = m.expectedCount(oldest, at) * m.rateBaseline();
    if (!(expected > 0)) return true;
    return want - 1 >= this.normalShare() * expected;
  }

  /** Traffic at no less than this share of the learned normal is "near normal" (1 - rateDrop.minDrop). */
  private normalShare(): number {
    return 1 - (this.config.rateDrop?.minDrop ?? 0.8);
  }

  trafficDrop(from: number, at: number): string | undefined {
    const m = this.model;
    if (!m.learned() || !(at > from)) return undefined;
    const expected = m.expectedCount(from, at) * m.rateBaseline();
    if (!(expected >= DROP_MIN_EXPECTED)) return undefined;
    const held = Math.min(this.recentN, RECOVERY_EVENTS);
    let n = 0;
    for (let i = this.recentN - held; i < this.recentN; i++) {
      const t = this.recent[i % RECOVERY_EVENTS]!;
      if (t > from && t <= at) n++;
    }
    // Every remembered arrival is since the probe fired: more came than the ring holds.
    if (n === RECOVERY_EVENTS) return undefined;
    if (n >= this.normalShare() * expected) return undefined;
    return `${n} event${n === 1 ? '' : 's'} in ${formatDuration(at - from)} where ${Math.round(expected)} are normal`;
  }

  seed(buckets: readonly SeedBucket[]): void {
    this.model.seed(buckets);
    if (this.config.bucketAuto) this.model.chooseBucket();
  }

  learned(): boolean {
    return this.model.learned();
  }

  deadline(since: number, which: 'quiet' | 'page'): number {
    const fixed = which === 'quiet' ? this.options.quietAfterMs : this.options.pageAfterMs;
    if (fixed !== undefined) return since + fixed;
    const { min, max } = this.config;
    if (!this.model.learned()) {
      const fb = which === 'quiet' ? (this.options.fallbackQuietMs ?? max) : (this.options.fallbackPageMs ?? max);
      const bound = since + Math.min(max, Math.max(min, fb));
      return which === 'page' && this.options.fallbackPageMs === undefined ? this.warmupPage(since, bound) : bound;
    }
    // Memo: the engine asks for the same (since, which) several times per step.
    const w = which === 'quiet' ? 0 : 1;
    if (this.memoVersion[w] === this.model.version && this.memoSince[w] === since) return this.memoValue[w]!;
    // `max` bounds the wait only where traffic is expected: it pages at since + max when at least
    // MAX_EXPECTED events were expected in the silence by then and traffic is expected then (the
    // rate at that instant would bring MAX_EXPECTED within `max`), or when the silence reaches
    // time of week with no history at all (unknown is not "nothing expected"). A silence into
    // hours where nothing is expected (nights, closed days, listed holidays, a sparse stream's
    // ordinary lull) waits for the learned limit, however long — up to HORIZON_MS: the last event
    // at 17:57 before an 18:00 close pages (if nothing comes) after the next opening, not at 05:57.
    const hi = since + max;
    const horizon = since + Math.max(max, HORIZON_MS);
    const t = this.model.crossing(since, which, horizon);
    let d: number;
    if (t <= hi) d = t;
    else {
      const silence = this.model.expectedSilence(since, hi);
      const busyThen = this.model.rateAt(hi - 1) * this.model.level() * max >= MAX_EXPECTED;
      d = silence.unknown || (silence.expected >= MAX_EXPECTED && busyThen) ? hi : Math.min(t, horizon);
    }
    d = Math.max(since + min, Math.ceil(d));
    this.memoVersion[w] = this.model.version;
    this.memoSince[w] = since;
    this.memoValue[w] = d;
    return d;
  }

  /**
   * The page deadline while the model is still learning (no fixed pageAfter). A stream that has
   * never sent an event is "new" (Healthchecks' state of that name): silence alone never pages it
   * (Infinity) until its first event — its quiet limit still warns, or fires a probe whose loss
   * pages. Once events were seen, a silence pages only when what was seen says it is no normal lull:
   * - not before `warmup` + max after the first event: until a warm-up has been watched, the model
   *   cannot tell a silent night, a closed day or the hours between two batches from an outage;
   * - not before the events seen make a silence that long improbable: n events over T since the
   *   first are n - 1 gaps of a rate with a Gamma(n - 1, T) posterior, whose predictive
   *   P(gap > s) = (T / (T + s))^(n-1) must be below the per-gap false-page tolerance
   *   q = falsePages * T / (n - 1) (a sparse stream's first few events promise nothing).
   * Up to HORIZON_MS; a quiet warning (or a probe) still comes at the bounds.
   */
  private warmupPage(since: number, bound: number): number {
    const { events, firstAt } = this.model.warmupEvidence();
    // Healthchecks' "new": a stream that has never sent an event does not page on silence alone
    // (a probe that is lost still does; a fixed pageAfter is unchanged).
    if (firstAt === null || events < 1) return Infinity;
    const { warmup, max, falsePages } = this.config;
    const gaps = events - 1;
    const T = Math.max(0, since - firstAt);
    let evidence = Infinity;
    if (gaps >= 1 && T > 0) {
      const q = Math.min(1, (falsePages * T) / gaps);
      const e = -Math.log(q) / gaps;
      evidence = e > 700 ? Infinity : T * Math.expm1(e);
    }
    const d = Math.max(bound, firstAt + warmup + max, since + evidence);
    return Math.ceil(Math.min(d, since + Math.max(max, HORIZON_MS)));
  }

  /**
   * Where the check is in its learning: `new` (no event ever, and no fixed pageAfter: silence
   * alone does not page), `warm-up` (the bounds and the warm-up evidence apply) or `learned`.
   */
  phase(): 'new' | 'warm-up' | 'learned' {
    if (this.model.learned()) return 'learned';
    return this.options.pageAfterMs === undefined && this.options.fallbackPageMs === undefined && this.model.firstEventAt() === null ? 'new' : 'warm-up';
  }

  describe(at: number): LimitDescription {
    const quietAfterMs = this.deadline(at, 'quiet') - at;
    // A new check has no page limit (Infinity); dashboards and metrics need a number: the longest
    // a learned limit ever waits is shown, and the API says `learning.phase: 'new'`.
    const page = this.deadline(at, 'page') - at;
    const pageAfterMs = Number.isFinite(page) ? page : Math.max(this.config.max, HORIZON_MS);
    if (!this.model.learned()) return { quietAfterMs, pageAfterMs, source: 'bounds' };
    const perMs = this.model.rateAt(at) * this.model.level();
    const d: LimitDescription = { quietAfterMs, pageAfterMs, source: 'learned' };
    if (perMs > 0) {
      d.expectedGapMs = 1 / perMs;
      d.expectedPerMinute = perMs * 60_000;
    }
    return d;
  }

  /**
   * Quiet-triggered probes a day: `expected` is the quiet limit's tolerance (falseProbes, or the
   * share of the probe budget: the learned limit is set so that silences beyond it happen at that
   * rate, and nb errs long), `observed` the decayed rate of silences beyond the reference quiet
   * limit the model has counted (null before it has watched anything). For the API.
   */
  probesPerDay(): { expected: number; observed: number | null } {
    const e = this.model.exceedances();
    return { expected: this.config.falseProbes * DAY_MS, observed: e && e[1] > 0 ? (e[0] / e[1]) * DAY_MS : null };
  }

  /**
   * The theoretical floor at `at`: the silence after which, at the learned rate (no level
   * adjustment, no bounds), the tolerated false-page rate (or false-probe rate, or any rate given
   * in alarms per ms) is met under a Poisson model.
   */
  floor(at: number, which: 'quiet' | 'page' | number = 'page'): number {
    const rate = typeof which === 'number' ? which : which === 'quiet' ? this.config.falseProbes : this.config.falsePages;
    const q = this.model.perGapProbability(rate);
    const r = this.model.rateAt(at);
    return r > 0 ? -Math.log(q) / r : Infinity;
  }

  toJSON(): ModelState {
    return this.model.toJSON();
  }

  static fromJSON(config: LearnConfig, state: ModelState, options: LearnedLimitsOptions = {}): LearnedLimits {
    return new LearnedLimits(config, options, state);
  }
}
