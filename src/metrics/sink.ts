/**
 * The facts quietwatch reports about itself. The shell (checks runtime, ingest, probes, alerts) calls a
 * MetricsSink; sinks turn the facts into time series (InfluxDB, Prometheus). Every method is synchronous,
 * never throws and never blocks: a sink that cannot deliver buffers, drops and counts — alerting must
 * never wait on metrics. All times (`at`) are epoch milliseconds from the caller's Clock.
 */

export type CheckState = 'unknown' | 'ok' | 'quiet' | 'down' | 'paused';
export const CHECK_STATES: readonly CheckState[] = ['unknown', 'ok', 'quiet', 'down', 'paused'];

/** The integer written as `state_code` (dashboards map it back to a word and a colour). */
export const STATE_CODE: Readonly<Record<CheckState, number>> = { unknown: -1, ok: 0, quiet: 1, down: 2, paused: 3 };

export interface CheckRef {
  name: string;
  stream: string;
  labels?: Readonly<Record<string, string>>;
}

export interface ExpectedRates {
  /** The learned (or configured) normal events per minute at this time of week. */
  eventsPerMinute?: number;
  quietAfterMs?: number;
  pageAfterMs?: number;
}

/** `proven`: the synthetic event arrived; `lost`: it did not in time; `failed`: the probe could not be fired. */
export type ProbeResult = 'proven' | 'lost' | 'failed';

export interface ProbeFact {
  check: string;
  probeId: string;
  result: ProbeResult;
  latencyMs?: number;
  /** What the probe cost, in minor units of `currency` (cents). */
  costMinor: number;
  currency: string;
  at: number;
}

export type NotificationKind = 'trigger' | 'acknowledge' | 'resolve' | 'reminder' | 'warning';
export type NotificationOutcome = 'delivered' | 'retry' | 'failed';

export interface NotificationFact {
  notifier: string;
  kind: NotificationKind;
  outcome: NotificationOutcome;
  deliveryMs?: number;
  at: number;
}

export interface HealthFact {
  component: string;
  ok: boolean;
  at: number;
}

/** An effect handler failed (src/effects/router.ts): counted per effect and handler. */
export interface EffectFailureFact {
  effect: string;
  handler: string;
  check: string;
  at: number;
}

export interface MetricsSink {
  /** Each check's state, every few seconds and on every flip. `secondsSinceLastEvent` is null before any event. */
  checkState(check: CheckRef, state: CheckState, secondsSinceLastEvent: number | null, at: number, expected?: ExpectedRates): void;
  /** Events ingested (hot path: O(1), aggregated per interval inside the sink). */
  events(stream: string, count: number, synthetic: boolean, at: number): void;
  /** Event time vs arrival time of one event (aggregated per interval). */
  lag(stream: string, lagMs: number, at: number): void;
  flip(check: CheckRef, from: CheckState, to: CheckState, at: number, reason: string): void;
  probe(fact: ProbeFact): void;
  notification(fact: NotificationFact): void;
  incidents(openCount: number, at: number): void;
  health(fact: HealthFact): void;
  /** Optional: an effect handler failed (the router logs it too). */
  effectFailure?(fact: EffectFailureFact): void;
}

/** Health of a sink that ships points somewhere (for `/readyz`: "metrics degraded"). */
export interface SinkStatus {
  ok: boolean;
  /** Why it is not ok: `unreachable`, `rejected`, `buffer-full`. */
  reason?: string;
  /** Points waiting to be written. */
  buffered: number;
  /** Points dropped since start (buffer bound or rejected by the server). */
  dropped: number;
  lastError?: string;
}

/** A sink that discards everything. */
export class NullSink implements MetricsSink {
  checkState(): void {}
  events(): void {}
  lag(): void {}
  flip(): void {}
  probe(): void {}
  notification(): void {}
  incidents(): void {}
  health(): void {}
}

/**
 * Forwards every fact to several sinks. One sink that throws (a bug) does not stop the others and
 * never reaches the caller; the error goes to `onError`.
 */
export class FanoutSink implements MetricsSink {
  readonly #sinks: readonly MetricsSink[];
  readonly #onError: (err: unknown, method: string) => void;

  constructor(sinks: readonly MetricsSink[], onError: (err: unknown, method: string) => void = () => {}) {
    this.#sinks = [...sinks];
    this.#onError = onError;
  }

  #each(method: string, fn: (s: MetricsSink) => void): void {
    for (const s of this.#sinks) {
      try {
        fn(s);
      } catch (err) {
        try {
          this.#onError(err, method);
        } catch {
          /* never reach the caller */
        }
      }
    }
  }

  checkState(check: CheckRef, state: CheckState, secs: number | null, at: number, expected?: ExpectedRates): void {
    this.#each('checkState', (s) => s.checkState(check, state, secs, at, expected));
  }
  events(stream: string, count: number, synthetic: boolean, at: number): void {
    this.#each('events', (s) => s.events(stream, count, synthetic, at));
  }
  lag(stream: string, lagMs: number, at: number): void {
    this.#each('lag', (s) => s.lag(stream, lagMs, at));
  }
  flip(check: CheckRef, from: CheckState, to: CheckState, at: number, reason: string): void {
    this.#each('flip', (s) => s.flip(check, from, to, at, reason));
  }
  probe(fact: ProbeFact): void {
    this.#each('probe', (s) => s.probe(fact));
  }
  notification(fact: NotificationFact): void {
    this.#each('notification', (s) => s.notification(fact));
  }
  incidents(openCount: number, at: number): void {
    this.#each('incidents', (s) => s.incidents(openCount, at));
  }
  health(fact: HealthFact): void {
    this.#each('health', (s) => s.health(fact));
  }
  effectFailure(fact: EffectFailureFact): void {
    this.#each('effectFailure', (s) => s.effectFailure?.(fact));
  }
}
