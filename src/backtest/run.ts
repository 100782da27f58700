/**
 * Backtests: replay a trace through the real engine (`step`, the same code as the service) in
 * virtual time, jumping from event to deadline (no timers), with probes simulated.
 *
 * - Learned limits learn online: every arrival is observed by the model *after* the deadlines
 *   before it were judged, so the model never sees the future (nor an outage before it happens).
 * - Feeding only what matters: an arrival is given to the engine only when skipping it could change
 *   a decision, i.e. when the engine's next deadline (computed from the last arrival it was given)
 *   would pass before the following arrival. Deadlines are monotone in the start of the silence, so
 *   a stale (earlier) start can only make them earlier: when even the stale deadline is after the
 *   next arrival, nothing can pass in between. Every flip is exactly what feeding every event would
 *   give; the engine stays the decision maker. Learned limits change only at the model's change
 *   points (sub-window ends); before one is crossed the engine is given the true last arrival. (A cheap pre-filter: arrivals closer than the
 *   shortest possible limit never matter.)
 * - Probes: a fired probe is accepted by the acquirer at once; its event arrives `probeLatencyMs`
 *   later unless that instant is inside an outage (then it is lost and the engine pages at the
 *   probe's deadline).
 * - Rate-drop (`learn.rateDrop` of a learned check): the same RateWindows as the service count the
 *   real arrivals; each window is judged at its close in virtual time (the engine first given the
 *   true last arrival) and the verdicts reach the engine as the service's `rate` inputs
 *   (verdictInput). Windows that ended before the replay began are never judged.
 * - Gaps in a counts trace (missing buckets: no data, not zero traffic) are not judged: the check
 *   is paused over them (unless it is already down), the model skips them and rate-drop windows
 *   start afresh after them, as after the service's own downtime.
 */
import { assertNever } from '../lib/assert.ts';
import { initialState, nextDeadline, step } from '../checks/engine.ts';
import type { CheckInput, CheckSpec, CheckState, Effect } from '../checks/types.ts';
import { LearnedLimits } from '../learn/model.ts';
import { RateWindows, verdictInput, type RateWindowOptions } from '../learn/rate-windows.ts';
import { cursor, prng, traceSpan, type Outage, type Trace } from './trace.ts';

const DAY = 86_400_000;

export interface BacktestOptions {
  spec: CheckSpec;
  trace: Trace;
  outages?: Outage[];
  /** Synthetic transaction latency (fire -> event). Default 10 s. */
  probeLatencyMs?: number;
  /**
   * Spread the latency log-normally around probeLatencyMs (its median): the standard deviation of its
   * log (0.3: p99 about twice the median). Default 0: every transaction takes probeLatencyMs. Seeded.
   */
  probeLatencySigma?: number;
  /** PRNG seed for spreading count buckets. Default 1. */
  seed?: number;
  /** Learn online from the replayed arrivals (default true when spec.limits is LearnedLimits). */
  learnOnline?: boolean;
  /** Replay window (default: the trace's span). */
  from?: number;
  to?: number;
  /** Keep every page's reason text in the report (default true). */
  keepReasons?: boolean;
  /** Give the engine every arrival (slow; for proving that skipping changes nothing). */
  feedAll?: boolean;
  /** Learned limits: also report the floor at each outage for this many false probes per ms (e.g. a whole probe budget). */
  budgetPerMs?: number;
  /** Rate-drop windows: default the learned check's own `learn.rateDrop`; false: none. */
  rateDrop?: RateWindowOptions | false;
}

export interface BacktestPage {
  at: number;
  silenceFrom: number;
  silenceMs: number;
  /** Overlaps an outage (its silence interval, or the judged rate-drop window, intersects one). */
  true: boolean;
  outage?: number;
  /** What paged: a silence limit (incl. a lost probe) or a rate-drop window. */
  cause: 'silence' | 'rate-drop';
  reason?: string;
  /** Learned limits: paged while the model was still warming up (the bounds applied). */
  warmup?: boolean;
  /** When the check recovered from this page (undefined: still down at the end). */
  resolvedAt?: number;
}

export interface BacktestOutage {
  start: number;
  end: number;
  detectedAt: number | null;
  delayMs: number | null;
  /** Incidents (down flips) whose silence or rate-drop window overlaps this outage. */
  incidents: number;
  /** Learned limits only: the theoretical floor at the outage's start (see LearnedLimits.floor). */
  floorMs?: number;
  /** With `budgetPerMs`: the quiet floor at that many false probes (Poisson, learned rate). */
  budgetFloorMs?: number;
}

export interface BacktestReport {
  check: string;
  from: number;
  to: number;
  days: number;
  arrivals: number;
  engineSteps: number;
  wallMs: number;
  pages: BacktestPage[];
  truePages: number;
  falsePages: number;
  quietWarnings: number;
  probes: {
    fired: number;
    proven: number;
    lost: number;
    perDay: number;
    outsideOutagesPerDay: number;
    /** Quiet-triggered probes (the budget trigger's spending): in all, and the most in any rolling 24 h (the engine's `probe.quietPerDay` cap). */
    quiet: number;
    quietMaxRollingDay: number;
  };
  outages: BacktestOutage[];
  /** Rate-drop windows judged, and how many were drops (null: the check has no rate-drop). */
  rateDrop: {
    windows: number;
    drops: number;
    dropsOutsideOutages: number;
    /** Per outage: a drop window overlapped it. */
    flagged: boolean[];
    /** Start of the first (up to 20) drop windows outside outages. */
    outsideAt: number[];
  } | null;
  /** Trace gaps (missing buckets) not judged. */
  gapsSkipped: number;
}

interface Scheduled {
  at: number;
  input?: CheckInput;
  /** Run at `at` before the input (trace gaps: the model skips, rate windows restart). */
  hook?: () => void;
}

function inOutage(outages: Outage[], t: number): number {
  for (let i = 0; i < outages.length; i++) if (t >= outages[i]!.start && t < outages[i]!.end) return i;
  return -1;
}

function overlapping(outages: Outage[], from: number, to: number): number {
  for (let i = 0; i < outages.length; i++) if (from < outages[i]!.end && to >= outages[i]!.start) return i;
  return -1;
}

/** The most of the (ascending) instants `ts` in any window (t - width, t]. */
export function maxInWindow(ts: readonly number[], width: number): number {
  let best = 0;
  for (let i = 0, j = 0; i < ts.length; i++) {
    while (ts[j]! <= ts[i]! - width) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

/** The shortest limit the spec can ever apply: arrivals closer than this never matter. */
export function minLimitMs(spec: CheckSpec): number {
  if (!spec.limits) return Math.min(spec.quietAfterMs, spec.pageAfterMs);
  if (spec.limits instanceof LearnedLimits) {
    const o = spec.limits.options;
    const c = spec.limits.config;
    return Math.min(o.quietAfterMs ?? c.min, o.pageAfterMs ?? c.min, c.min);
  }
  return 0; // an unknown model: feed everything
}

export function runBacktest(opts: BacktestOptions): BacktestReport {
  const wall0 = performance.now();
  const { spec, trace } = opts;
  const outages = [...(opts.outages ?? [])].sort((a, b) => a.start - b.start);
  const latency = opts.probeLatencyMs ?? 10_000;
  const sigma = opts.probeLatencySigma ?? 0;
  const latencyRnd = prng(((opts.seed ?? 1) * 2_654_435_761) ^ 0x5bd1e995);
  /** The next transaction's latency: a log-normal draw (Box-Muller) when spread, else the constant. */
  const nextLatency = (): number => (sigma > 0 ? latency * Math.exp(sigma * Math.sqrt(-2 * Math.log(1 - latencyRnd())) * Math.cos(2 * Math.PI * latencyRnd())) : latency);
  const span = traceSpan(trace);
  const from = opts.from ?? span.from;
  const to = opts.to ?? span.to;
  const learner = spec.limits instanceof LearnedLimits && opts.learnOnline !== false ? spec.limits : null;
  const skipBound = minLimitMs(spec);
  const keepReasons = opts.keepReasons ?? true;
  const rdOpts = opts.rateDrop === false ? undefined : (opts.rateDrop ?? (spec.limits instanceof LearnedLimits ? spec.limits.config.rateDrop : undefined));
  const rdModel = spec.limits instanceof LearnedLimits ? spec.limits.model : null;
  let windows = rdOpts && rdModel ? new RateWindows(rdOpts, rdModel) : null;
  let rdWindows = 0;
  let rdDrops = 0;
  let rdDropsOutside = 0;
  const rdFlagged = outages.map(() => false);
  const rdOutsideAt: number[] = [];
  /** The rate-drop window whose verdict the engine is being given (a page it causes is judged by it). */
  let judging: { start: number; end: number } | null = null;
  let gapsSkipped = 0;

  let probeSeq = 0;
  let state: CheckState = initialState(from);
  let steps = 0;
  const pending: Scheduled[] = [];
  const pages: BacktestPage[] = [];
  let quietWarnings = 0;
  let fired = 0;
  let proven = 0;
  let lost = 0;
  let firedOutside = 0;
  const quietFiredAt: number[] = [];

  // The engine's next deadline, cached: it only changes when the state or the limits change.
  let cachedDeadline: number | null = null;
  let cachedVersion = -1;
  const deadlineNow = (): number => {
    const v = learner ? learner.model.version : 0;
    if (cachedDeadline === null || v !== cachedVersion) {
      cachedDeadline = nextDeadline(spec, state) ?? Infinity;
      cachedVersion = v;
    }
    return cachedDeadline;
  };

  const run = (now: number, input: CheckInput): void => {
    cachedDeadline = null;
    const r = step(spec, state, input, { now, newProbeId: () => `p${++probeSeq}` });
    state = r.state;
    steps++;
    for (const e of r.effects) handle(e, now);
  };

  const handle = (e: Effect, now: number): void => {
    switch (e.type) {
      case 'fire-probe': {
        fired++;
        if (e.reason === 'quiet') quietFiredAt.push(e.at);
        if (inOutage(outages, e.at) < 0) firedOutside++;
        // The acquirer accepts the charge; the event arrives after the latency unless it is lost.
        run(now, { kind: 'probe-result', probeId: e.probeId, result: 'accepted' });
        const arrive = e.at + nextLatency();
        // A transaction slower than the wait still comes out (late: it proves liveness, resolves a page).
        if (inOutage(outages, arrive) < 0) {
          schedule({ at: arrive, input: { kind: 'event', at: arrive, time: arrive, probeId: e.probeId } });
        }
        return;
      }
      case 'probe-proven':
        proven++;
        return;
      case 'probe-lost':
        lost++;
        return;
      case 'alert':
        if (e.kind === 'down') {
          const silenceMs = e.details.silenceMs ?? 0;
          // The page is noticed when the shell wakes: `now` (the flip's own time is e.at).
          const at = Math.max(now, e.at);
          const silenceFrom = e.at - silenceMs;
          // A rate-drop page is true when the window it judged overlaps an outage.
          const o = judging ? overlapping(outages, judging.start, judging.end - 1) : overlapping(outages, silenceFrom, at);
          pages.push({
            at,
            silenceFrom,
            silenceMs: at - silenceFrom,
            true: o >= 0,
            ...(o >= 0 ? { outage: o } : {}),
            cause: judging ? 'rate-drop' : 'silence',
            ...(spec.limits instanceof LearnedLimits && !spec.limits.learned() ? { warmup: true } : {}),
            ...(keepReasons ? { reason: e.reason } : {}),
          });
        } else if (e.kind === 'recovered') {
          const last = pages[pages.length - 1];
          if (last && last.resolvedAt === undefined) last.resolvedAt = Math.max(now, e.at);
        } else if (e.kind === 'warning' && e.warning === 'quiet') quietWarnings++;
        return;
      case 'flip':
        return;
      default:
        assertNever(e, 'effect');
    }
  };

  const schedule = (p: Scheduled): void => {
    let i = pending.length;
    while (i > 0 && pending[i - 1]!.at > p.at) i--;
    pending.splice(i, 0, p);
  };

  /** Give the engine the true last arrival (before a decision that depends on it). */
  const feedLast = (): void => {
    if (lastArrival > lastFed) {
      run(lastArrival, { kind: 'event', at: lastArrival, time: lastArrival });
      lastFed = lastArrival;
      stuck = false;
    }
  };

  /** Rate-drop: judge the windows that closed by `at`, as the service's timer does. */
  const judgeWindows = (at: number): void => {
    feedLast();
    const verdicts = windows!.judge(at, from);
    rdWindows += verdicts.length;
    for (const v of verdicts) {
      if (v.verdict !== 'drop') continue;
      rdDrops++;
      const o = overlapping(outages, v.start, v.end - 1);
      if (o < 0) {
        rdDropsOutside++;
        if (rdOutsideAt.length < 20) rdOutsideAt.push(v.start);
      } else rdFlagged[o] = true;
    }
    // One window at a time, against the engine's own flag, as the service does.
    for (const v of verdicts) {
      const input = verdictInput(v, state.rateLow ?? false);
      if (!input) continue;
      judging = { start: v.start, end: v.end };
      run(at, input);
      judging = null;
    }
    stuck = false;
  };

  // Apply every deadline, window close and scheduled input strictly before `until` (and not after `to`). */
  let stuck = false;
  const settle = (until: number): void => {
    for (;;) {
      const td = stuck ? Infinity : deadlineNow();
      const tp = pending.length ? pending[0]!.at : Infinity;
      const tw = windows ? (windows.nextClose() ?? Infinity) : Infinity;
      const t = Math.min(td, tp, tw);
      if (t >= until || t > to) return;
      if (tw < td && tw < tp) {
        judgeWindows(tw);
      } else if (tp <= td) {
        const p = pending.shift()!;
        p.hook?.();
        if (p.input) run(p.at, p.input);
        stuck = false;
      } else {
        run(td, { kind: 'tick' });
        const again = nextDeadline(spec, state);
        if (again !== null && again <= td) stuck = true; // nothing more to do until the next input
      }
    }
  };

  const cur = cursor(trace, opts.seed ?? 1);
  let arrivals = 0;
  let lastFed = from;
  let lastArrival = from;
  let oi = 0;
  const floors: Array<number | undefined> = outages.map(() => undefined);
  const budgetFloors: Array<number | undefined> = outages.map(() => undefined);
  // Trace gaps: no data is not silence. Paused over the gap (a check already down stays down), the
  // model skips it and rate-drop windows start afresh after it, as after the service's downtime.
  for (const g of trace.kind === 'counts' ? (trace.gaps ?? []) : []) {
    if (g.end <= from || g.start >= to) continue;
    gapsSkipped++;
    let paused = false;
    schedule({
      at: g.start,
      hook: () => {
        feedLast();
        // Rate-drop windows stop here (the one open is partial, never judged); new ones start after the gap.
        if (windows) {
          for (let c = windows.nextClose(); c !== null && c <= g.start; c = windows.nextClose()) judgeWindows(c);
          windows = null;
        }
        if (state.status !== 'down' && state.status !== 'paused') {
          run(g.start, { kind: 'pause', by: 'backtest: no data' });
          paused = true;
        }
      },
    });
    schedule({
      at: g.end,
      hook: () => {
        learner?.model.skipTo(g.start, g.end);
        if (rdOpts && rdModel) windows = new RateWindows(rdOpts, rdModel);
        if (paused) run(g.end, { kind: 'resume', by: 'backtest: data again' });
      },
    });
  }
  let next = cur.next();
  while (!Number.isNaN(next) && next < from) next = cur.next();
  while (!Number.isNaN(next) && next <= to) {
    const t = next;
    next = cur.next();
    arrivals++;
    if (learner && t >= learner.model.nextChangeAt() && lastArrival > lastFed) {
      // The limits are about to change: give the engine the true last arrival first, so that no
      // deadline is ever judged from a stale start under the new limits.
      feedLast();
    }
    settle(t);
    if (windows) {
      // A window that closes exactly at this arrival is judged before the arrival opens the next.
      for (let c = windows.nextClose(); c !== null && c <= t; c = windows.nextClose()) judgeWindows(c);
      windows.observe(t);
    }
    if (learner) {
      while (oi < outages.length && outages[oi]!.start <= t) {
        const at = outages[oi]!.start;
        floors[oi] = learner.floor(at);
        if (opts.budgetPerMs !== undefined) budgetFloors[oi] = learner.floor(at, opts.budgetPerMs);
        oi++;
      }
      learner.observe(t);
    }
    lastArrival = t;
    const following = Number.isNaN(next) || next > to ? Infinity : next;
    const matters =
      opts.feedAll === true || state.status !== 'ok' || pending.length > 0 || (following - lastFed >= skipBound && deadlineNow() <= following);
    if (matters) {
      run(t, { kind: 'event', at: t, time: t });
      lastFed = t;
      stuck = false;
    }
  }
  settle(to + 1);

  const outs: BacktestOutage[] = outages.map((o, i) => {
    const p = pages.find((pg) => pg.outage === i);
    const incidents = pages.filter((pg) => pg.outage === i).length;
    const out: BacktestOutage = { start: o.start, end: o.end, detectedAt: p ? p.at : null, delayMs: p ? Math.max(0, p.at - o.start) : null, incidents };
    if (floors[i] !== undefined) out.floorMs = floors[i];
    if (budgetFloors[i] !== undefined) out.budgetFloorMs = budgetFloors[i];
    return out;
  });
  const days = Math.max((to - from) / DAY, 1e-9);
  const truePages = pages.filter((p) => p.true).length;
  return {
    check: spec.name,
    from,
    to,
    days,
    arrivals,
    engineSteps: steps,
    wallMs: performance.now() - wall0,
    pages,
    truePages,
    falsePages: pages.length - truePages,
    quietWarnings,
    probes: { fired, proven, lost, perDay: fired / days, outsideOutagesPerDay: firedOutside / days, quiet: quietFiredAt.length, quietMaxRollingDay: maxInWindow(quietFiredAt, DAY) },
    outages: outs,
    rateDrop: rdOpts && rdModel ? { windows: rdWindows, drops: rdDrops, dropsOutsideOutages: rdDropsOutside, flagged: rdFlagged, outsideAt: rdOutsideAt } : null,
    gapsSkipped,
  };
}
