/**
 * What the service reports about its checks and itself, besides the facts ingest, probes and alerts
 * report as they happen: every flip at once, and every few seconds each check's state with the
 * seconds since its last event (a live counter on screens), the open incidents and each component's
 * health. Handlers and timers only: the facts go to the MetricsSink.
 */
import type { CheckRuntime } from '../checks/runtime.ts';
import type { CheckSpec } from '../checks/types.ts';
import type { NamedHandler } from '../effects/router.ts';
import type { Clock, Timers } from '../lib/clock.ts';
import { systemTimers } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { MetricsSink } from './sink.ts';

export interface ReporterDeps {
  runtime: CheckRuntime;
  sink: MetricsSink;
  clock: Clock;
  timers?: Timers;
  logger: Logger;
  everyMs: number;
  /** Open incidents right now. */
  openIncidents: () => Promise<number>;
  /** Each component's health (true = ok), for the health series. */
  health: () => Promise<Record<string, boolean>>;
}

export class MetricsReporter {
  private timer: unknown;

  constructor(private readonly d: ReporterDeps) {}

  readonly onFlip: NamedHandler<'flip'> = {
    name: 'metrics',
    handle: (e, { spec }) => {
      this.d.sink.flip(checkRef(spec), e.from, e.to, e.at, e.reason);
      this.reportState(spec, this.d.clock.now());
    },
  };

  start(): void {
    this.reportAll();
    this.timer = (this.d.timers ?? systemTimers).setInterval(() => this.reportAll(), this.d.everyMs);
  }

  stop(): void {
    if (this.timer !== undefined) (this.d.timers ?? systemTimers).clearInterval(this.timer);
    this.timer = undefined;
  }

  private reportAll(): void {
    const { runtime, clock, logger } = this.d;
    const now = clock.now();
    for (const name of runtime.names()) this.reportState(runtime.spec(name)!, now);
    this.reportHealth(now).catch((err) => logger.warn({ err }, 'could not report health metrics'));
  }

  private reportState(spec: CheckSpec, at: number): void {
    const snap = this.d.runtime.snapshot(spec.name);
    if (!snap) return;
    const lim = snap.limits;
    this.d.sink.checkState(checkRef(spec), snap.status, snap.lastEventAt === null ? null : Math.max(0, (at - snap.lastEventAt) / 1000), at, {
      quietAfterMs: lim.quietAfterMs,
      pageAfterMs: lim.pageAfterMs,
      ...(lim.expectedPerMinute !== undefined ? { eventsPerMinute: lim.expectedPerMinute } : {}),
    });
  }

  private async reportHealth(now: number): Promise<void> {
    this.d.sink.incidents(await this.d.openIncidents(), now);
    this.d.sink.health({ component: 'quietwatch', ok: true, at: now });
    for (const [component, ok] of Object.entries(await this.d.health())) this.d.sink.health({ component, ok, at: now });
  }
}

const checkRef = (spec: CheckSpec) => ({ name: spec.name, stream: spec.stream, labels: spec.labels });
