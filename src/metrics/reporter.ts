/**
 * What the service reports about its checks and itself, besides the facts ingest, probes and alerts
 * report as they happen: every flip at once, and every few seconds each check's state with the
 * seconds since its last event (a live counter on screens), the open incidents and each component's
 * health. Handlers and timers only: the facts go to the MetricsSink.
 */
import type { CheckRuntime } from '../checks/runtime.ts';
import { limitsAt } from '../checks/engine.ts';
import type { CheckSpec, CheckState } from '../checks/types.ts';
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

  /** Checks whose state changed since their state was last reported (reported soon, in slices). */
  private readonly dirty = new Set<CheckSpec>();
  private flushTimer: unknown;
  private reporting = false;

  readonly onFlip: NamedHandler<'flip'> = {
    name: 'metrics',
    handle: (e, { spec }) => {
      this.d.sink.flip(spec, e.from, e.to, e.at, e.reason);
      // A storm flips 100,000 checks in one second: their states go out in slices, not one by one.
      this.dirty.add(spec);
      this.flushTimer ??= (this.d.timers ?? systemTimers).setTimeout(() => {
        this.flushTimer = undefined;
        void this.reportSlices([...this.dirty]);
        this.dirty.clear();
      }, 0);
    },
  };

  start(): void {
    this.reportAll();
    this.timer = (this.d.timers ?? systemTimers).setInterval(() => this.reportAll(), this.d.everyMs);
  }

  stop(): void {
    const timers = this.d.timers ?? systemTimers;
    if (this.timer !== undefined) timers.clearInterval(this.timer);
    if (this.flushTimer !== undefined) timers.clearTimeout(this.flushTimer);
    this.timer = undefined;
    this.flushTimer = undefined;
  }

  /** Report these checks' states (read when reported), SLICE at a time, yielding to the event loop in between. */
  private async reportSlices(checks: ReadonlyArray<CheckSpec | CheckView>): Promise<void> {
    for (let i = 0; i < checks.length; i += SLICE) {
      const now = this.d.clock.now();
      const end = Math.min(checks.length, i + SLICE);
      for (let k = i; k < end; k++) {
        const c = checks[k]!;
        if ('state' in c && 'spec' in c) this.reportState(c.spec, c.state, now);
        else {
          const st = this.d.runtime.state(c.name);
          if (st) this.reportState(c, st, now);
        }
      }
      if (end < checks.length) await new Promise<void>((r) => setImmediate(r));
    }
  }

  private reportAll(): void {
    const { runtime, clock, logger } = this.d;
    this.reportHealth(clock.now()).catch((err) => logger.warn({ err }, 'could not report health metrics'));
    if (this.reporting) return; // the last round is still going out
    this.reporting = true;
    this.reportSlices(runtime.views())
      .catch((err) => logger.warn({ err }, 'could not report check states'))
      .finally(() => (this.reporting = false));
  }

  private reportState(spec: CheckSpec, st: CheckState, at: number): void {
    // The state and the limits only (not a full snapshot): 100,000 checks are reported every few seconds.
    const lim = limitsAt(spec, at);
    this.d.sink.checkState(spec, st.status, st.lastEventAt === null ? null : Math.max(0, (at - st.lastEventAt) / 1000), at, {
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

const SLICE = 2_000;
type CheckView = { readonly spec: CheckSpec; readonly state: CheckState };
