/**
 * The same facts as Prometheus metrics on a registry of its own (`GET /metrics`). Check labels from
 * config are not exported (Prometheus label sets are fixed per metric); use relabelling if needed.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { IdCounter, IdGauge, IdHistogram, Interner, StateGauge } from './compact.ts';
import {
  CHECK_STATES,
  type CheckRef,
  type CheckState,
  type ExpectedRates,
  type HealthFact,
  type MetricsSink,
  type NotificationFact,
  type ProbeFact,
  type EffectFailureFact,
} from './sink.ts';
import { lagOutOfRange, StreamLabels } from './stream-labels.ts';

export interface PrometheusSinkOptions {
  /** Collect Node.js process metrics (default true). */
  defaultMetrics?: boolean;
  /** Where the dropped-points total comes from (e.g. `() => influxSink.dropped()`). */
  droppedPoints?: () => number;
  /** Streams without a check that get their own `stream` label; the rest count as `stream="_other"` (default 200). */
  maxOtherStreams?: number;
}

const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export class PrometheusSink implements MetricsSink {
  readonly registry = new Registry();
  // Per check and per stream: compact series (src/metrics/compact.ts), 100,000 checks cost bytes each, not objects.
  readonly #checks = new Interner();
  readonly #streamIds = new Interner();
  readonly #state: StateGauge;
  readonly #since: IdGauge;
  readonly #expected: IdGauge;
  readonly #events: IdCounter;
  readonly #lag: IdHistogram;
  readonly #lagOut: Counter<'stream' | 'reason'>;
  readonly #streams: StreamLabels;
  readonly #flips: IdCounter;
  readonly #probes: Counter<'check' | 'result'>;
  readonly #probeLatency: Histogram<'check'>;
  readonly #probeCost: Counter<'check' | 'currency'>;
  readonly #notifications: Counter<'notifier' | 'kind' | 'outcome'>;
  readonly #delivery: Histogram<'notifier'>;
  readonly #incidents: Gauge;
  readonly #up: Gauge<'component'>;
  readonly #effectFailures: Counter<'effect' | 'handler'>;
  #droppedSources: (() => number)[] = [];

  constructor(opts: PrometheusSinkOptions = {}) {
    const registers = [this.registry];
    const registry = this.registry;
    this.#state = new StateGauge('quietwatch_check_state', '1 for the state each check is in, 0 for the others.', CHECK_STATES, this.#checks, registry);
    this.#since = new IdGauge('quietwatch_check_seconds_since_last_event', 'Seconds since the check last saw an event.', 'check', this.#checks, registry);
    this.#expected = new IdGauge('quietwatch_check_expected_events_per_minute', 'Learned normal events per minute for the check, where known.', 'check', this.#checks, registry);
    this.#events = new IdCounter('quietwatch_events_total', 'Events ingested.', 'stream', this.#streamIds, registry);
    this.#lag = new IdHistogram('quietwatch_pipeline_lag_seconds', 'Event time to arrival (within a day; see quietwatch_pipeline_lag_out_of_range_total).', 'stream', this.#streamIds, LATENCY_BUCKETS, registry);
    this.#lagOut = new Counter({
      name: 'quietwatch_pipeline_lag_out_of_range_total',
      help: 'Events whose time is after their arrival (reason="future") or more than a day before it (reason="past"): a clock or unit problem, kept out of the lag histogram.',
      labelNames: ['stream', 'reason'],
      registers,
    });
    this.#streams = new StreamLabels(opts.maxOtherStreams);
    this.#flips = new IdCounter('quietwatch_check_flips_total', 'Check state changes.', 'check', this.#checks, registry);
    this.#probes = new Counter({ name: 'quietwatch_probes_total', help: 'Probes by result.', labelNames: ['check', 'result'], registers });
    this.#probeLatency = new Histogram({ name: 'quietwatch_probe_latency_seconds', help: 'Probe fired to its event seen.', labelNames: ['check'], buckets: LATENCY_BUCKETS, registers });
    this.#probeCost = new Counter({ name: 'quietwatch_probe_cost_minor_units_total', help: 'What probes cost, in minor currency units.', labelNames: ['check', 'currency'], registers });
    this.#notifications = new Counter({ name: 'quietwatch_notifications_total', help: 'Notification attempts.', labelNames: ['notifier', 'kind', 'outcome'], registers });
    this.#delivery = new Histogram({ name: 'quietwatch_notification_delivery_seconds', help: 'Notification delivery time.', labelNames: ['notifier'], buckets: LATENCY_BUCKETS, registers });
    this.#incidents = new Gauge({ name: 'quietwatch_incidents_open', help: 'Open incidents.', registers });
    this.#up = new Gauge({ name: 'quietwatch_component_up', help: '1 when a quietwatch component is healthy.', labelNames: ['component'], registers });
    this.#effectFailures = new Counter({ name: 'quietwatch_effect_failures_total', help: 'Effect handlers that failed (logged; the service goes on).', labelNames: ['effect', 'handler'], registers });
    if (opts.droppedPoints) this.#droppedSources.push(opts.droppedPoints);
    const sources = () => this.#droppedSources;
    new Counter({
      name: 'quietwatch_metrics_points_dropped_total',
      help: 'Metric points dropped because a metrics backend was unreachable or rejected them.',
      registers,
      collect() {
        this.reset();
        this.inc(sources().reduce((sum, f) => sum + f(), 0));
      },
    });
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Add a source of dropped points (summed at scrape time). */
  countDroppedFrom(source: () => number): void {
    this.#droppedSources.push(source);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The scrape body for `GET /metrics` (serve with `contentType`). */
  metricsText(): Promise<string> {
    return this.registry.metrics();
  }

  checkState(check: CheckRef, state: CheckState, secs: number | null, _at: number, expected?: ExpectedRates): void {
    const id = this.#check(check);
    this.#state.set(id, state);
    if (secs === null || !Number.isFinite(secs)) this.#since.remove(id);
    else this.#since.set(id, secs);
    if (expected?.eventsPerMinute !== undefined) this.#expected.set(id, expected.eventsPerMinute);
  }

  events(name: string, count: number, synthetic: boolean, _at: number): void {
    const stream = this.#streams.label(name);
    this.#events.inc(this.#streamIds.id(stream), synthetic ? 's' : 'r', { synthetic: String(synthetic) }, count);
  }

  lag(name: string, lagMs: number, _at: number): void {
    const stream = this.#streams.label(name);
    const out = lagOutOfRange(lagMs);
    if (out) this.#lagOut.inc({ stream, reason: out });
    else this.#lag.observe(this.#streamIds.id(stream), Math.max(0, lagMs) / 1000);
  }

  flip(check: CheckRef, from: CheckState, to: CheckState, _at: number, _reason: string): void {
    this.#flips.inc(this.#check(check), `${from}>${to}`, { from, to });
  }

  /** The check's id; a check seen for the first time makes its stream known. */
  #check(check: CheckRef): number {
    const n = this.#checks.size;
    const id = this.#checks.id(check.name);
    if (this.#checks.size > n) this.#streams.know(check.stream);
    return id;
  }

  probe(f: ProbeFact): void {
    this.#probes.inc({ check: f.check, result: f.result });
    if (f.latencyMs !== undefined) this.#probeLatency.observe({ check: f.check }, f.latencyMs / 1000);
    if (f.costMinor > 0) this.#probeCost.inc({ check: f.check, currency: f.currency }, f.costMinor);
  }

  notification(f: NotificationFact): void {
    this.#notifications.inc({ notifier: f.notifier, kind: f.kind, outcome: f.outcome });
    if (f.deliveryMs !== undefined) this.#delivery.observe({ notifier: f.notifier }, f.deliveryMs / 1000);
  }

  incidents(openCount: number, _at: number): void {
    this.#incidents.set(openCount);
  }

  health(f: HealthFact): void {
    this.#up.set({ component: f.component }, f.ok ? 1 : 0);
  }
  effectFailure(fact: EffectFailureFact): void {
    this.#effectFailures.inc({ effect: fact.effect, handler: fact.handler });
  }

}
