/**
 * The check engine: a pure function from (check, state, input, now) to (state, effects).
 * Nothing here reads the clock, the network or the disk. The shell (runtime.ts) feeds it events and
 * ticks at the deadline `nextDeadline` returns, and carries out the effects.
 *
 * Rules, in one place:
 * - Silence is measured from `watchFrom` (newest event arrival, proof, creation, restart, resume).
 * - ok/unknown -> quiet at the quiet deadline; with probes, a probe fires there (at most
 *   `probe.quietPerDay` quiet-triggered ones in any rolling 24 h; beyond, none fires there and a
 *   `confirm` probe fires at the page deadline instead of paging at once).
 * - -> down at the page deadline, unless a probe is in flight (then the probe decides: proven -> ok,
 *   lost -> down at the probe's deadline, refused/error/budget -> the page deadline applies again).
 * - A probe waits `probe.timeout`, or with `probe.learnTimeout` a multiple of its recent proofs'
 *   latency. Lost while events flow again: a warning, unless the learned model says they are far
 *   below normal since it fired (`trafficDrop`: a partial outage), which pages.
 * - A flip's time is the deadline that passed, not the time a loop noticed it.
 * - Only meaningful transitions alert: down pages, down -> ok resolves, quiet warns (when no probe
 *   can decide), unknown -> ok and paused -> ok say nothing.
 */
import { assertNever } from '../lib/assert.ts';
import { formatDuration } from '../lib/duration.ts';
import { isSchedule } from './schedule.ts';

/** At most this many runs in flight per check (the oldest are forgotten beyond). */
const MAX_RUNS = 20;
import type {
  AlertDetails,
  CheckInput,
  CheckSpec,
  CheckState,
  CheckStatus,
  Effect,
  LimitDescription,
  ProbeReason,
  StepContext,
  StepResult,
  WarningKind,
} from './types.ts';

const DAY_MS = 86_400_000;

/**
 * The `downs` of every check without recent downs: one shared, frozen empty array (the engine
 * replaces `downs`, never pushes to it; an empty array per check was 32 bytes, 100,000 times).
 */
const NO_DOWNS = Object.freeze([]) as unknown as number[];

/**
 * A step's working copy of a state: the fixed fields in one literal (kept in the object, not in a
 * separate property array as a spread with overrides makes them: 32 bytes less a state), then any
 * other own field as it was.
 */
function copyState(st: CheckState): CheckState {
  const s: CheckState = {
    status: st.status,
    since: st.since,
    lastEventAt: st.lastEventAt,
    lastEventTime: st.lastEventTime,
    lastProofAt: st.lastProofAt,
    watchFrom: st.watchFrom,
    probe: st.probe ? { ...st.probe } : null,
    quietStreak: st.quietStreak,
    downs: st.downs.length ? [...st.downs] : NO_DOWNS,
    heldUntil: st.heldUntil,
    held: st.held,
  };
  for (const k in st) if (!(k in s)) (s as unknown as Record<string, unknown>)[k] = (st as unknown as Record<string, unknown>)[k];
  if (st.lastProbe) s.lastProbe = { ...st.lastProbe };
  return s;
}

export function initialState(now: number): CheckState {
  return {
    status: 'unknown',
    since: now,
    lastEventAt: null,
    lastEventTime: null,
    lastProofAt: null,
    watchFrom: now,
    probe: null,
    quietStreak: 0,
    downs: NO_DOWNS,
    heldUntil: null,
    held: false,
  };
}

/** Extra quiet window granted by the backoff after `streak` proofs without real traffic. */
export function backoffExtraMs(spec: CheckSpec, streak: number, baseQuietMs: number): number {
  if (!spec.probe || streak <= 0) return 0;
  const cap = Math.max(spec.probe.backoffMaxMs, baseQuietMs);
  const stretched = Math.min(cap, baseQuietMs * spec.probe.backoffFactor ** streak);
  return stretched - baseQuietMs;
}

export function limitsAt(spec: CheckSpec, at: number): LimitDescription {
  return spec.limits ? spec.limits.describe(at) : { quietAfterMs: spec.quietAfterMs, pageAfterMs: spec.pageAfterMs, source: 'fixed' };
}

/** The instant the current silence becomes suspicious (quiet) or pageable (page). */
export function silenceDeadline(spec: CheckSpec, state: CheckState, which: 'quiet' | 'page'): number {
  const from = state.watchFrom;
  const base = spec.limits ? spec.limits.deadline(from, which) : from + (which === 'quiet' ? spec.quietAfterMs : spec.pageAfterMs);
  const baseQuiet = spec.limits ? spec.limits.deadline(from, 'quiet') - from : spec.quietAfterMs;
  const at = base + backoffExtraMs(spec, state.quietStreak, baseQuiet);
  return which === 'page' && state.pageNotBefore !== undefined ? Math.max(at, state.pageNotBefore) : at;
}

type Due = { at: number; what: 'quiet' | 'page' | 'probe' | 'release' | 'runtime' };

/** The next instant at which a tick changes something, or null when nothing is pending. */
export function nextDue(spec: CheckSpec, state: CheckState): Due | null {
  const cands: Due[] = [];
  const s = state.status;
  if (s === 'paused') return null;
  if (state.probe) cands.push({ at: state.probe.deadline, what: 'probe' });
  if (s === 'ok' || s === 'unknown') cands.push({ at: silenceDeadline(spec, state, 'quiet'), what: 'quiet' });
  // With fixed limits a probe in flight holds the page: it will tell quiet from broken. Learned
  // limits already put the page where a silence is unlikely enough (falsePages), so they page there.
  // (A `confirm` probe was fired at the page limit itself: it decides, whatever the limits.)
  if ((s === 'ok' || s === 'unknown' || s === 'quiet') && (!state.probe || (spec.limits && state.probe.reason !== 'confirm'))) {
    cands.push({ at: silenceDeadline(spec, state, 'page'), what: 'page' });
  }
  if (s === 'down' && state.held && state.heldUntil !== null) cands.push({ at: state.heldUntil, what: 'release' });
  // The oldest run that started and has not succeeded: down once it has run too long.
  if (spec.maxRuntimeMs !== undefined && state.runs?.length && s !== 'down') cands.push({ at: state.runs[0]!.startedAt + spec.maxRuntimeMs, what: 'runtime' });
  if (cands.length === 0) return null;
  // Earliest first; on a tie, quiet before page so that ok -> quiet -> down stay ordered.
  const order = { quiet: 0, probe: 1, page: 2, release: 3, runtime: 4 } as const;
  cands.sort((a, b) => a.at - b.at || order[a.what] - order[b.what]);
  return cands[0]!;
}

export function nextDeadline(spec: CheckSpec, state: CheckState): number | null {
  return nextDue(spec, state)?.at ?? null;
}

/** "normal at this hour: 1 event every 0.8 s" (learned) or "limits: quiet after 30s, page after 2m" (fixed). */
export function describeNormal(spec: CheckSpec, at: number): string {
  const lim = limitsAt(spec, at);
  return lim.expectedGapMs !== undefined
    ? `normal at this hour: 1 event every ${formatDuration(lim.expectedGapMs)}`
    : `limits: quiet after ${formatDuration(lim.quietAfterMs)}, page after ${formatDuration(lim.pageAfterMs)}`;
}

/** "silent 41 s; normal at this hour: 1 event every 0.8 s" */
export function describeSilence(spec: CheckSpec, state: CheckState, at: number): string {
  return `silent ${formatDuration(at - state.watchFrom)}; ${describeNormal(spec, at)}`;
}

/**
 * How long a probe fired now waits for its transaction: with `probe.learnTimeout`, `factor` x the
 * slowest of the recent proofs (the pipeline's own latency, never probe.timeout's guess) once enough
 * were proven; else probe.timeout.
 */
export function probeWait(spec: CheckSpec, state: CheckState): { ms: number; source: 'learned' | 'configured'; proofs: number } {
  const p = spec.probe!;
  const l = p.learnTimeout;
  const lat = state.proofLatencies ?? [];
  if (!l || lat.length < l.proofs) return { ms: p.timeoutMs, source: 'configured', proofs: lat.length };
  let slowest = 0;
  for (const x of lat) if (x > slowest) slowest = x;
  const ms = Math.min(p.timeoutMs, Math.max(l.minMs, Math.ceil(l.factor * slowest)));
  return { ms, source: ms < p.timeoutMs ? 'learned' : 'configured', proofs: lat.length };
}

/** "30s (learned: 3 x the slowest of the last 20 proofs)" for a probe's wait, in pages. */
function describeWait(spec: CheckSpec, waitMs: number): string {
  const l = spec.probe?.learnTimeout;
  return l && waitMs < spec.probe!.timeoutMs ? `${formatDuration(waitMs)} (learned: ${l.factor} x the slowest of the last ${l.proofs} proofs)` : formatDuration(waitMs);
}

function details(spec: CheckSpec, state: CheckState, at: number): AlertDetails {
  const d: AlertDetails = {
    state: state.status,
    lastEventAt: state.lastEventAt,
    silenceMs: at - state.watchFrom,
    limits: limitsAt(spec, at),
    normal: describeNormal(spec, at),
  };
  const lp = state.lastProbe;
  if (state.probe) d.probe = { id: state.probe.id, result: state.probe.accepted ? 'accepted' : 'pending', reference: state.probe.reference, firedAt: state.probe.firedAt, reason: state.probe.reason };
  else if (lp && (lp.settledAt ?? lp.firedAt) >= state.watchFrom) {
    // The newest attempt settled during this silence: what quietwatch tried, and how it ended.
    d.probe = { id: lp.id, result: lp.result, firedAt: lp.firedAt, reason: lp.reason };
    for (const k of ['reference', 'settledAt', 'message', 'latencyMs'] as const) if (lp[k] !== undefined) (d.probe as Record<string, unknown>)[k] = lp[k];
  }
  if (state.rateLow && state.rateLowReason) d.rateDrop = state.rateLowReason;
  return d;
}

/** Mutable working copy for one step; the caller's state is never mutated. */
class Step {
  readonly effects: Effect[] = [];
  readonly s: CheckState;
  constructor(
    readonly spec: CheckSpec,
    state: CheckState,
    readonly ctx: StepContext,
  ) {
    this.s = copyState(state);
  }

  /** The newest event before the one being applied (a recovery's page says how long it was silent). */
  silentSince: number | null = null;

  flip(to: CheckStatus, at: number, reason: string): void {
    const from = this.s.status;
    if (from === to) return;
    const prevSince = this.s.since;
    this.s.status = to;
    this.s.since = at;
    this.effects.push({ type: 'flip', check: this.spec.name, from, to, at, reason });
    if (to === 'down') {
      const f = this.spec.flap;
      this.s.downs = f ? [...this.s.downs.filter((t) => t > at - f.windowMs), at] : NO_DOWNS;
      this.alert('down', at, reason);
    } else if (from === 'down') {
      this.alert('recovered', at, reason);
      const d = (this.effects.at(-1) as Extract<Effect, { type: 'alert' }>).details;
      d.downSince = prevSince;
      d.resolvedAt = at;
      if (this.silentSince !== null) d.silentSince = this.silentSince;
    }
  }

  alert(kind: 'down' | 'recovered' | 'warning', at: number, reason: string, warning?: WarningKind, probeResult?: string): void {
    const d = details(this.spec, this.s, at);
    if (probeResult && d.probe) d.probe.result = probeResult;
    this.effects.push({ type: 'alert', check: this.spec.name, kind, ...(warning ? { warning } : {}), at, reason, details: d });
  }

  /** Record how the newest probe attempt ended (for pages). */
  settle(id: string, at: number, result: NonNullable<CheckState['lastProbe']>['result'], extra: { reference?: string; message?: string; latencyMs?: number } = {}): void {
    const lp = this.s.lastProbe;
    if (!lp || lp.id !== id) return;
    this.s.lastProbe = { ...lp, result, settledAt: at, ...Object.fromEntries(Object.entries(extra).filter(([, v]) => v !== undefined)) };
  }

  /** Stop waiting for the probe in flight (pause, restart); the shell settles its record. */
  dropProbe(at: number, why: 'pause' | 'restart'): void {
    const p = this.s.probe;
    if (!p) return;
    this.s.probe = null;
    this.settle(p.id, at, 'dropped', { message: why === 'pause' ? 'check paused' : 'service restarted' });
    this.effects.push({ type: 'probe-lost', check: this.spec.name, probeId: p.id, at, accepted: p.accepted, why });
  }

  /** `probe.quietPerDay` quiet-triggered probes fired in the rolling 24 h up to `at` (older ones forgotten). */
  quietCapped(at: number): boolean {
    const cap = this.spec.probe?.quietPerDay;
    if (cap === undefined) return false;
    const recent = (this.s.quietProbes ?? []).filter((t) => t > at - DAY_MS);
    this.s.quietProbes = recent;
    return recent.length >= cap;
  }

  /** Fire a probe unless one is in flight; true when it fired. */
  fireProbe(at: number, reason: ProbeReason): boolean {
    if (!this.spec.probe || this.s.probe) return false; // never two in flight
    const id = this.ctx.newProbeId();
    const deadline = at + probeWait(this.spec, this.s).ms;
    this.s.probe = { id, reason, firedAt: at, deadline, accepted: false };
    this.s.lastProbe = { id, reason, firedAt: at, result: 'pending' };
    this.effects.push({ type: 'fire-probe', check: this.spec.name, probeId: id, reason, at, deadline });
    return true;
  }

  /** Apply every deadline that has passed by `now`, each at its own instant. */
  advance(now: number, floor: number = this.s.since): void {
    let cursor = floor;
    for (let guard = 0; guard < 16; guard++) {
      const due = nextDue(this.spec, this.s);
      if (!due || due.at > now) return;
      // Flips are ordered in time: a deadline that passed while a probe was deciding happens when
      // the probe settled, not before.
      cursor = Math.max(cursor, due.at);
      this.apply(due, cursor);
    }
  }

  private apply(due: Due, at: number): void {
    const s = this.s;
    switch (due.what) {
      case 'quiet': {
        const why = describeSilence(this.spec, s, at);
        this.flip('quiet', at, `no events: ${why}`);
        if (!this.spec.probe) this.alert('warning', at, `stream ${this.spec.stream} is quiet: ${why}`, 'quiet');
        else if (this.quietCapped(at)) {
          // The quiet-triggered share of the budget is spent for this rolling day: no probe now; a
          // confirm probe decides at the page limit (case 'page'). Said once a day, not every spell.
          if (s.quietCapWarnedAt === undefined || s.quietCapWarnedAt <= at - DAY_MS) {
            s.quietCapWarnedAt = at;
            this.alert('warning', at, `quiet-triggered probes reached their share of the budget (${this.spec.probe.quietPerDay} in 24 h): no probe for this quiet spell, one confirms at the page limit; stream ${this.spec.stream} is quiet: ${why}`, 'budget');
          }
        } else if (this.fireProbe(at, 'quiet') && this.spec.probe.quietPerDay !== undefined) s.quietProbes = [...(s.quietProbes ?? []), at];
        return;
      }
      case 'page':
        // The cap withheld this spell's quiet probe: one probe confirms before anyone is woken
        // (proven -> ok; lost -> down at its deadline; refused/budget -> down now, below).
        if (this.spec.probe?.quietPerDay !== undefined && s.status === 'quiet' && !(s.lastProbe && s.lastProbe.firedAt >= s.since) && this.fireProbe(at, 'confirm')) return;
        this.flip('down', at, `no events: ${describeSilence(this.spec, s, at)}`);
        return;
      case 'probe': {
        const p = s.probe!;
        s.probe = null;
        this.effects.push({ type: 'probe-lost', check: this.spec.name, probeId: p.id, at, accepted: p.accepted, why: 'deadline' });
        this.settle(p.id, at, p.accepted ? 'lost' : 'error', {
          reference: p.reference,
          message: p.accepted ? `charge accepted, no event within ${describeWait(this.spec, p.deadline - p.firedAt)}` : 'the acquirer did not accept the charge before the deadline',
        });
        if (!p.accepted) {
          // The acquirer never accepted the charge in time: the probe proves nothing, the silence
          // limits decide. Say so: a probe path that cannot charge is worth a look.
          this.alert('warning', at, `probe ${p.id} expired before the acquirer accepted the charge`, 'probe-error', 'error');
          return;
        }
        const rateDrop = p.reason === 'rate-drop' || s.rateLow === true;
        let drop: string | undefined;
        if ((s.status === 'ok' || s.status === 'unknown') && !rateDrop) {
          // Events came while it waited, but far fewer than normal: a partial outage swallowed it.
          drop = this.spec.limits?.trafficDrop?.(p.firedAt, at);
          if (!drop) {
            // Real traffic flows but our synthetic transaction vanished: worth a look, not a page.
            this.alert('warning', at, `probe ${p.id} lost while traffic flows`, 'probe-lost', 'lost');
            return;
          }
        }
        const reason = `probe ${p.id} lost: charge accepted${p.reference ? ` (ref ${p.reference})` : ''}, no event within ${describeWait(this.spec, p.deadline - p.firedAt)}; ${drop ? `traffic far below normal since it fired: ${drop}` : describeSilence(this.spec, s, at)}`;
        if (s.status === 'down') return;
        this.flip('down', at, reason);
        return;
      }
      case 'release': {
        s.heldUntil = null;
        const quietLimit = limitsAt(this.spec, at).quietAfterMs;
        if (s.lastEventAt !== null && at - s.lastEventAt < quietLimit) {
          s.held = false;
          s.downs = NO_DOWNS;
          this.flip('ok', at, `stable again after flapping (events for ${formatDuration(this.spec.flap?.stableForMs ?? 0)})`);
        }
        return;
      }
      case 'runtime': {
        const run = s.runs!.shift()!;
        if (s.runs!.length === 0) delete s.runs;
        this.flip('down', at, `run ${run.id} started at ${new Date(run.startedAt).toISOString()} has not succeeded within ${formatDuration(this.spec.maxRuntimeMs!)}`);
        return;
      }
      default:
        assertNever(due.what, 'deadline');
    }
  }

  event(at: number, time: number, probeId: string | undefined, runId?: string): void {
    const s = this.s;
    const now = this.ctx.now;
    // Liveness counts arrival time, never later than now: a future-stamped arrival cannot push deadlines out.
    const arrival = Math.min(at, now);
    // Deadlines that passed before this event arrived happened first (an out-of-order feed).
    this.advance(arrival);
    // A success ends its run (without a run id: the oldest); the restart's grace is over.
    if (s.runs?.length && probeId === undefined) {
      const i = runId !== undefined ? s.runs.findIndex((r) => r.id === runId) : 0;
      if (i >= 0) s.runs = s.runs.filter((_, j) => j !== i);
      if (s.runs.length === 0) delete s.runs;
    }
    if (probeId === undefined) delete s.pageNotBefore;
    const prevLast = s.lastEventAt;
    this.silentSince = prevLast;
    if (s.lastEventAt === null || arrival >= s.lastEventAt) {
      s.lastEventAt = arrival;
      s.lastEventTime = time;
    }
    if (arrival > s.watchFrom) s.watchFrom = arrival;

    let synthetic = false;
    if (probeId !== undefined) {
      synthetic = true;
      const p = s.probe;
      const firedAt = p && p.id === probeId ? p.firedAt : undefined;
      const learn = this.spec.probe?.learnTimeout;
      if (learn) {
        // The wait learns from every proof, and from a late copy of the newest probe (lost at a
        // learned wait, then arriving): the next wait is long enough for it.
        const lp = s.lastProbe;
        const latency = firedAt !== undefined ? arrival - firedAt : lp && lp.id === probeId && lp.result === 'lost' ? arrival - lp.firedAt : undefined;
        if (latency !== undefined && latency >= 0) s.proofLatencies = [...(s.proofLatencies ?? []), latency].slice(-learn.proofs);
      }
      if (p && p.id === probeId) {
        s.probe = null;
        this.settle(p.id, arrival, 'proven', { latencyMs: arrival - p.firedAt });
      }
      s.lastProofAt = arrival;
      // Only the probe in flight extends the backoff; a duplicate or late copy proves liveness only.
      if (firedAt !== undefined) s.quietStreak += 1;
      this.effects.push({
        type: 'probe-proven',
        check: this.spec.name,
        probeId,
        at: arrival,
        latencyMs: firedAt !== undefined ? arrival - firedAt : -1,
      });
    } else {
      s.quietStreak = 0;
    }

    if (s.status === 'paused') return;
    if (s.status === 'down' && s.rateLow && !synthetic) return; // a trickle is not recovery; a normal window is
    if (s.status === 'down' && !synthetic && this.spec.limits?.trafficBack?.(arrival, s.since) === false) return; // nor is one stray event
    if (s.status === 'down' && s.held) {
      // Flapping: stay down until events flow without a silence for stableForMs.
      const f = this.spec.flap!;
      const quietLimit = limitsAt(this.spec, arrival).quietAfterMs;
      if (s.heldUntil === null || (prevLast !== null && arrival - prevLast >= quietLimit)) s.heldUntil = arrival + f.stableForMs;
      return;
    }
    if (s.status === 'down' && this.spec.flap) {
      const f = this.spec.flap;
      const recent = s.downs.filter((t) => t > arrival - f.windowMs);
      if (recent.length > f.maxFlips) {
        s.held = true;
        s.heldUntil = arrival + f.stableForMs;
        return;
      }
    }
    if (s.status !== 'ok') {
      const reason = synthetic ? `probe ${probeId} proven: the pipeline works` : 'events received';
      this.flip('ok', arrival, s.status === 'down' && !synthetic ? `${reason} (traffic returned)` : reason);
    }
  }
}

export function step(spec: CheckSpec, state: CheckState, input: CheckInput, ctx: StepContext): StepResult {
  const st = new Step(spec, state, ctx);
  const s = st.s;
  const now = ctx.now;
  switch (input.kind) {
    case 'tick':
      st.advance(now);
      break;
    case 'event':
      st.event(input.at, input.time, input.probeId, input.runId);
      st.advance(now);
      break;
    case 'run': {
      st.advance(now);
      if (s.status === 'paused') break;
      const at = Math.min(input.at, now);
      if (input.phase === 'start') {
        // Overlapping runs are tracked apart (a bounded list: a sender that never succeeds cannot grow it).
        const id = input.runId ?? `started ${new Date(at).toISOString()}`;
        s.runs = [...(s.runs ?? []).filter((r) => r.id !== id), { id, startedAt: at }].slice(-MAX_RUNS);
      } else {
        if (s.runs && input.runId !== undefined) {
          s.runs = s.runs.filter((r) => r.id !== input.runId);
          if (s.runs.length === 0) delete s.runs;
        }
        const what = input.runId !== undefined ? `run ${input.runId} failed` : 'the job reported a failure';
        if (s.status !== 'down') st.flip('down', at, input.reason ? `${what}: ${input.reason}` : what);
      }
      st.advance(now);
      break;
    }
    case 'pause':
      st.advance(now);
      if (s.status !== 'paused') {
        const from = s.status;
        const wasDown = from === 'down';
        st.dropProbe(now, 'pause');
        s.status = 'paused';
        s.since = now;
        s.held = false;
        s.heldUntil = null;
        s.rateLow = false;
        st.effects.push({ type: 'flip', check: spec.name, from, to: 'paused', at: now, reason: `paused${input.by ? ` by ${input.by}` : ''}` });
        if (wasDown) st.alert('recovered', now, `check paused${input.by ? ` by ${input.by}` : ''}`);
      }
      break;
    case 'resume':
      if (s.status === 'paused') {
        s.watchFrom = now;
        s.quietStreak = 0;
        st.flip('unknown', now, `resumed${input.by ? ` by ${input.by}` : ''}`);
      }
      break;
    case 'restart':
      // The service itself was down: never page for that time. A down check stays down (its
      // incident stays open) until events return; everything else starts over in unknown.
      // A probe in flight is forgotten: its transaction may have come out while nobody listened,
      // and a lost probe must never page for our own downtime. A late arrival still proves liveness.
      st.dropProbe(now, 'restart');
      if (s.status !== 'down' && s.status !== 'paused') {
        if (isSchedule(spec.limits)) {
          // A schedule check keeps counting from its last event: a slot missed while the service was
          // down is still late at once — but it is down no sooner than one grace after the restart
          // (the sender may have failed to reach us while we were down, and retries).
          s.pageNotBefore = now + spec.limits.schedule.graceMs;
        } else s.watchFrom = now;
        s.quietStreak = 0;
        st.flip('unknown', now, 'service restarted');
      }
      break;
    case 'rate':
      st.advance(now);
      if (s.status === 'paused') break;
      if (input.verdict === 'drop') {
        s.rateLow = true;
        s.rateLowReason = input.reason;
        // With a probe, the probe decides (lost -> down); without one the drop itself pages.
        if (spec.probe) st.fireProbe(now, 'rate-drop');
        else st.flip('down', now, input.reason);
      } else if (s.rateLow) {
        s.rateLow = false;
        delete s.rateLowReason;
        if (s.status === 'down' && !s.held && s.lastEventAt !== null && now - s.lastEventAt < limitsAt(spec, now).quietAfterMs) {
          st.flip('ok', now, input.reason);
        }
      }
      break;
    case 'probe-request':
      st.advance(now);
      if (s.status !== 'paused') st.fireProbe(now, input.reason);
      break;
    case 'probe-result': {
      const p = s.probe;
      if (!p || p.id !== input.probeId) break; // a late answer for a probe already settled
      if (input.result === 'accepted') {
        p.accepted = true;
        if (input.reference !== undefined) p.reference = input.reference;
        if (s.lastProbe?.id === p.id) s.lastProbe = { ...s.lastProbe, result: 'accepted', ...(p.reference !== undefined ? { reference: p.reference } : {}) };
        break;
      }
      s.probe = null;
      st.settle(p.id, now, input.result, { reference: input.reference, message: input.message });
      const warning: WarningKind = input.result === 'refused' ? 'probe-refused' : input.result === 'budget' ? 'budget' : 'probe-error';
      const what =
        input.result === 'refused'
          ? 'the acquirer declined the probe charge: the probe card itself may be broken'
          : input.result === 'budget'
            ? 'a probe budget stopped the probe: no charge was made'
            : 'the probe could not reach the acquirer';
      st.alert('warning', now, `${what}${input.message ? ` (${input.message})` : ''}`, warning, input.result);
      st.advance(now, now);
      break;
    }
    default:
      assertNever(input, 'check input');
  }
  return { state: s, effects: st.effects };
}
