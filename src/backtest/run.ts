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
 */
import { initialState, nextDeadline, step } from '../checks/engine.ts';
import type { CheckInput, CheckSpec, CheckState, Effect } from '../checks/types.ts';
import { LearnedLimits } from '../learn/model.ts';
import { cursor, traceSpan, type Outage, type Trace } from './trace.ts';

const DAY = 86_400_000;

export interface BacktestOptions {
  spec: CheckSpec;
  trace: Trace;
  outages?: Outage[];
  /** Synthetic transaction latency (fire -> event). Default 10 s. */
  probeLatencyMs?: number;
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
}

export interface BacktestPage {
  at: number;
  silenceFrom: number;
  silenceMs: number;
  /** Overlaps an outage (its silence interval intersects one). */
  true: boolean;
  outage?: number;
  reason?: string;
}

export interface BacktestOutage {
  start: number;
  end: number;
  detectedAt: number | null;
  delayMs: number | null;
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
  probes: { fired: number; proven: number; lost: number; perDay: number; outsideOutagesPerDay: number };
  outages: BacktestOutage[];
}

interface Scheduled {
  at: number;
  input: CheckInput;
}

function inOutage(outages: Outage[], t: number): number {
  for (let i = 0; i < outages.length; i++) if (t >= outages[i]!.start && t < outages[i]!.end) return i;
  return -1;
}

function overlapping(outages: Outage[], from: number, to: number): number {
  for (let i = 0; i < outages.length; i++) if (from < outages[i]!.end && to >= outages[i]!.start) return i;
  return -1;
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
  const span = traceSpan(trace);
  const from = opts.from ?? span.from;
  const to = opts.to ?? span.to;
  const learner = spec.limits instanceof LearnedLimits && opts.learnOnline !== false ? spec.limits : null;
  const skipBound = minLimitMs(spec);
  const keepReasons = opts.keepReasons ?? true;

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
        if (inOutage(outages, e.at) < 0) firedOutside++;
        // The acquirer accepts the charge; the event arrives after the latency unless it is lost.
        run(now, { kind: 'probe-result', probeId: e.probeId, result: 'accepted' });
        const arrive = e.at + latency;
        if (arrive < e.deadline && inOutage(outages, arrive) < 0) {
          pending.push({ at: arrive, input: { kind: 'event', at: arrive, time: arrive, probeId: e.probeId } });
          pending.sort((a, b) => a.at - b.at);
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
          const o = overlapping(outages, silenceFrom, at);
          pages.push({ at, silenceFrom, silenceMs: at - silenceFrom, true: o >= 0, ...(o >= 0 ? { outage: o } : {}), ...(keepReasons ? { reason: e.reason } : {}) });
        } else if (e.kind === 'warning' && e.warning === 'quiet') quietWarnings++;
        return;
      default:
        return;
    }
  };

  // Apply every deadline and scheduled input strictly before `until` (and not after `to`). */
  let stuck = false;
  const settle = (until: number): void => {
    for (;;) {
      const td = stuck ? Infinity : deadlineNow();
      const tp = pending.length ? pending[0]!.at : Infinity;
      const t = Math.min(td, tp);
      if (t >= until || t > to) return;
      if (tp <= td) {
        const p = pending.shift()!;
        run(p.at, p.input);
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
  let next = cur.next();
  while (!Number.isNaN(next) && next < from) next = cur.next();
  while (!Number.isNaN(next) && next <= to) {
    const t = next;
    next = cur.next();
    arrivals++;
    if (learner && t >= learner.model.nextChangeAt() && lastArrival > lastFed) {
      // The limits are about to change: give the engine the true last arrival first, so that no
      // deadline is ever judged from a stale start under the new limits.
      run(lastArrival, { kind: 'event', at: lastArrival, time: lastArrival });
      lastFed = lastArrival;
      stuck = false;
    }
    settle(t);
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
    const out: BacktestOutage = { start: o.start, end: o.end, detectedAt: p ? p.at : null, delayMs: p ? Math.max(0, p.at - o.start) : null };
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
    probes: { fired, proven, lost, perDay: fired / days, outsideOutagesPerDay: firedOutside / days },
    outages: outs,
  };
}
