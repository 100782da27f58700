/** What `createService` takes and gives (src/main.ts wires it). */
import type { FastifyInstance } from 'fastify';
import type { AlertManager } from './alerts/manager.ts';
import type { AlertStore } from './alerts/outbox.ts';
import type { CheckRuntime } from './checks/runtime.ts';
import type { Config } from './config/schema.ts';
import type { EffectRouter } from './effects/router.ts';
import type { Clock, Timers } from './lib/clock.ts';
import type { Logger } from './lib/logger.ts';
import type { Metrics } from './metrics/index.ts';
import type { MetricsSink } from './metrics/sink.ts';
import type { ProbeService } from './probes/service.ts';
import type { ProbeStore } from './probes/store.ts';
import type { Sandbox } from './sandbox/sandbox.ts';
import type { InfluxSource } from './sources/influx.ts';
import type { Store } from './store/types.ts';

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

export interface ServiceOptions {
  clock?: Clock;
  /** The one timer source (tests pass fake timers through vi.useFakeTimers, which systemTimers follows). */
  timers?: Timers;
  logger?: Logger;
  /** Override the store (tests); default: SQLite at config.store.path, or PostgreSQL at config.store.url. */
  store?: Store;
  /** Wrap a module's store or the metrics sink (tests: make one fail and watch the service survive). */
  wrap?: { probeStore?: (s: ProbeStore) => ProbeStore; alertStore?: (s: AlertStore) => AlertStore; sink?: (s: MetricsSink) => MetricsSink };
  /**
   * SQLite: commit on the writer thread (default true; src/store/sqlite-writer.ts). False keeps the
   * commits on the service's own connection: tests in virtual time, where a thread's real latency
   * is not advanced with the fake clock.
   */
  sqliteWriter?: boolean;
  /** PostgreSQL: leader lease timing (tests). Default: store.leaseTtl, renewed every third of it. */
  lease?: { ttlMs?: number; everyMs?: number; marginMs?: number };
  /**
   * PostgreSQL: this replica lost the leader lease (paused, partitioned, the database gone). The CLI
   * exits so the supervisor restarts it as a follower; by default the leader's duties stop here and
   * the replica keeps serving as a follower that does not stand again.
   */
  onDeposed?: (reason: string) => void;
}

export interface Service {
  config: Config;
  app: FastifyInstance;
  runtime: CheckRuntime;
  store: Store;
  probes: ProbeService;
  sandbox?: Sandbox;
  metrics: Metrics;
  alerts: AlertManager;
  effects: EffectRouter;
  /** The InfluxDB source of fed checks, when any; `sourceStarted` resolves once its history is in and it polls. */
  source?: InfluxSource;
  sourceStarted: Promise<void>;
  logger: Logger;
  /** 'leader' (always, with SQLite) or 'follower'. */
  role(): 'leader' | 'follower';
  /** Listen on config.server; resolves with the bound address. */
  listen(): Promise<string>;
  close(): Promise<void>;
}
