/**
 * The check engine's data: what a check is (spec), what it knows (state), what it is told (input)
 * and what it decides (effects). All plain data; see engine.ts for the pure transition function.
 */

export type CheckStatus = 'unknown' | 'ok' | 'quiet' | 'down' | 'paused';
export const CHECK_STATUSES: readonly CheckStatus[] = ['unknown', 'ok', 'quiet', 'down', 'paused'];

/** A learned limit model (src/learn/): the silence limits in force change with the time of week. */
export interface LimitModel {
  /**
   * The first instant t >= since at which a silence that began at `since` is longer than the
   * `which` limit in force at t. Must be > since. Learned limits stay within since + max where
   * traffic is expected; where nothing is (nights, closed days) up to three weeks (src/learn/model.ts).
   */
  deadline(since: number, which: 'quiet' | 'page'): number;
  /** For the API and pages: the limits and the expected rate at `at`. */
  describe(at: number): LimitDescription;
  /**
   * A down check's event at `at` (not a probe's; down since `downSince`): is traffic back near
   * its normal? When false the check stays down (a trickle during a partial outage is not
   * recovery). Absent: any event is.
   */
  trafficBack?(at: number, downSince: number): boolean;
  /**
   * A probe fired at `from` was lost at `at` while events still came: were they far below normal
   * since it fired (a partial outage that swallowed the probe)? A description of the shortfall
   * ("1 event in 30s where 10 are normal"), else undefined (normal, or too little expected to tell).
   * Absent: a probe lost while traffic flows is a warning, never a page.
   */
  trafficDrop?(from: number, at: number): string | undefined;
}

export interface LimitDescription {
  quietAfterMs: number;
  pageAfterMs: number;
  /** Expected mean gap between events at this time of week, when learned. */
  expectedGapMs?: number;
  /** Expected events per minute at this time of week, when learned. */
  expectedPerMinute?: number;
  /** 'learned' once the model has enough history, 'bounds' while it falls back to its bounds; 'schedule' for cron checks. */
  source: 'fixed' | 'learned' | 'bounds' | 'schedule';
  /** Schedule checks: the next slot an event is expected by, the grace after it, the expression. */
  nextSlotAt?: number;
  graceMs?: number;
  schedule?: string;
}

export interface ProbeBehaviour {
  /** How long to wait for the synthetic transaction after the probe fires. */
  timeoutMs: number;
  /** During a quiet spell each proven probe multiplies the next quiet window by this... */
  backoffFactor: number;
  /** ...up to this cap (the longest quiet window while probes keep proving the pipeline). */
  backoffMaxMs: number;
  /**
   * At most this many quiet-triggered probes in any rolling 24 h (learned limits spending
   * `learn.probeShare` of `probe.budget.perDay`); beyond it a quiet spell fires no probe and one
   * `confirm` probe fires at the page limit instead. Absent: no cap of its own (the probe budgets
   * still apply).
   */
  quietPerDay?: number;
  /**
   * `probe.learnTimeout`: a probe waits `factor` x the slowest of the last `proofs` proven probes (at
   * least `minMs`, never more than timeoutMs) once that many were proven; until then timeoutMs.
   */
  learnTimeout?: { factor: number; minMs: number; proofs: number };
}

export interface FlapControl {
  /** More than this many down flips within windowMs and the check is held down... */
  maxFlips: number;
  windowMs: number;
  /** ...until events have flowed without a silence for this long. */
  stableForMs: number;
}

export interface CheckSpec {
  name: string;
  stream: string;
  /** attribute -> accepted values; an event matches when every listed attribute has one of them. */
  match: Record<string, string[]>;
  quietAfterMs: number;
  pageAfterMs: number;
  /** Learned limits replace the fixed ones when present (the fixed ones remain the fallback). */
  limits?: LimitModel;
  labels: Record<string, string>;
  probe?: ProbeBehaviour;
  flap?: FlapControl;
  /** A run that started (`?state=start`) and has not succeeded within this is down. */
  maxRuntimeMs?: number;
}

export interface ProbeInFlight {
  id: string;
  reason: ProbeReason;
  firedAt: number;
  deadline: number;
  /** The acquirer accepted the charge: from now on a missing event means the pipeline lost it. */
  accepted: boolean;
  reference?: string;
}

/**
 * Why a probe fired. `confirm`: at the page deadline of a quiet spell whose quiet probe the
 * `probe.quietPerDay` cap withheld — one probe before waking someone (the probe budgets still apply).
 */
export type ProbeReason = 'quiet' | 'schedule' | 'manual' | 'rate-drop' | 'confirm';

/** The newest probe attempt and how it ended, for pages ("probe pr_1 refused 30 s before"). */
export interface ProbeAttempt {
  id: string;
  reason: ProbeReason;
  firedAt: number;
  /** When it was settled (proven, lost, refused, error, budget, dropped); absent while in flight. */
  settledAt?: number;
  result: 'pending' | 'accepted' | 'proven' | 'lost' | 'refused' | 'error' | 'budget' | 'dropped';
  reference?: string;
  message?: string;
  latencyMs?: number;
}

export interface CheckState {
  status: CheckStatus;
  /** When the current status was entered. */
  since: number;
  /** Arrival time of the newest matching event (liveness counts arrival time). */
  lastEventAt: number | null;
  /** The newest event's own timestamp (pipeline lag = arrival - own time). */
  lastEventTime: number | null;
  /** When a probe last proved the pipeline. */
  lastProofAt: number | null;
  /** Silence is measured from here: the newest event, proof, creation, restart or resume. */
  watchFrom: number;
  probe: ProbeInFlight | null;
  /** Probes proven in a row without real traffic: the backoff exponent. Real traffic resets it. */
  quietStreak: number;
  /** Times the check went down recently (flap control). */
  downs: number[];
  /** Flapping: held down until stable; the instant it may be released, or null while silent. */
  heldUntil: number | null;
  held: boolean;
  /** A rate-drop check found the window's count far below normal; cleared by a normal window. */
  rateLow?: boolean;
  /** Runs started and not yet succeeded (start/success/fail pings), oldest first. */
  runs?: RunInFlight[];
  /** Schedule checks after a restart: never down before this (the sender gets a grace to retry). */
  pageNotBefore?: number;
  /** The verdict that set rateLow ("3 events, 94% below normal for this window: 50.0 events"). */
  rateLowReason?: string;
  /** The newest probe attempt, in flight or settled (pages say what quietwatch tried). */
  lastProbe?: ProbeAttempt;
  /** With `probe.quietPerDay`: when the quiet-triggered probes of the last 24 h fired, oldest first. */
  quietProbes?: number[];
  /** With `probe.quietPerDay`: when the cap last stopped a quiet probe and said so (one warning a day). */
  quietCapWarnedAt?: number;
  /** With `probe.learnTimeout`: the latencies (fire -> event, ms) of the newest proofs, oldest first. */
  proofLatencies?: number[];
}

export interface RunInFlight {
  id: string;
  startedAt: number;
}

export type CheckInput =
  /** `runId`: a success ping of that run (without one, a success ends the oldest run). */
  | { kind: 'event'; at: number; time: number; probeId?: string; runId?: string }
  /** A run started (`start`) or failed (`fail`: down at once, the body as the reason). */
  | { kind: 'run'; phase: 'start' | 'fail'; at: number; runId?: string; reason?: string }
  | { kind: 'tick' }
  | { kind: 'pause'; by?: string }
  | { kind: 'resume'; by?: string }
  | { kind: 'restart' }
  | { kind: 'probe-request'; reason: ProbeReason }
  /** The verdict of a rate-drop window (counts far below the learned normal, or back to normal). */
  | { kind: 'rate'; verdict: 'drop' | 'normal'; reason: string }
  | {
      kind: 'probe-result';
      probeId: string;
      result: 'accepted' | 'refused' | 'error' | 'budget';
      reference?: string;
      message?: string;
    };

export interface StepContext {
  now: number;
  /** A fresh probe id (random in the service, deterministic in tests and backtests). */
  newProbeId: () => string;
}

export type WarningKind = 'quiet' | 'probe-refused' | 'probe-error' | 'budget' | 'probe-lost';

export interface Flip {
  check: string;
  from: CheckStatus;
  to: CheckStatus;
  /** When it really happened: the deadline that passed, or the event's arrival. */
  at: number;
  reason: string;
}

export type Effect =
  | ({ type: 'flip' } & Flip)
  | { type: 'fire-probe'; check: string; probeId: string; reason: ProbeReason; at: number; deadline: number }
  | { type: 'probe-proven'; check: string; probeId: string; at: number; latencyMs: number }
  /**
   * The engine stopped waiting for a probe: its deadline passed (`deadline`), the check was paused, or
   * the service restarted. The shell settles the record (and reverses an accepted charge).
   */
  | { type: 'probe-lost'; check: string; probeId: string; at: number; accepted: boolean; why: 'deadline' | 'pause' | 'restart' }
  | {
      type: 'alert';
      check: string;
      kind: 'down' | 'recovered' | 'warning';
      warning?: WarningKind;
      at: number;
      reason: string;
      details: AlertDetails;
    };

export interface AlertDetails {
  state: CheckStatus;
  lastEventAt: number | null;
  silenceMs: number | null;
  limits: LimitDescription;
  /** "silent 41 s; normal at this hour: 1 event every 0.8 s" */
  normal?: string;
  /** The probe in flight, or the newest one settled during this silence. */
  probe?: { id: string; result: string; reference?: string; latencyMs?: number; firedAt?: number; settledAt?: number; message?: string; reason?: ProbeReason };
  /** Set while a rate-drop verdict holds the check low: the verdict. */
  rateDrop?: string;
  /** On recovery: when the check went down, when it recovered, and its last event before the silence. */
  downSince?: number;
  resolvedAt?: number;
  silentSince?: number;
}

export interface StepResult {
  state: CheckState;
  effects: Effect[];
}
