/**
 * The composition root: config in, a running service out. It only wires; each stage owns its rules.
 *
 *   ingest (API, sandbox, InfluxDB-fed points) -> checks runtime (pure engine, one timer)
 *     -> effects router -> probes | alerts | metrics          learn: limits, rate-drop verdicts
 */
import type { FastifyInstance } from 'fastify';
import { AlertEffects } from './alerts/effects.ts';
import { createAlertManager } from './alerts/index.ts';
import type { AlertManager } from './alerts/manager.ts';
import { alertApiPlugin } from './alerts/routes.ts';
import { SqliteAlertStore } from './alerts/store-sqlite.ts';
import type { AlertStore } from './alerts/outbox.ts';
import { Auth, isLoopback } from './api/auth.ts';
import { buildServer, type ApiPlugin, type ComponentHealth } from './api/server.ts';
import { boardPlugin } from './board/index.ts';
import { CheckRuntime } from './checks/runtime.ts';
import { correlateFor, syntheticDetector } from './checks/spec.ts';
import type { Config } from './config/schema.ts';
import { EffectRouter } from './effects/router.ts';
import { Ingest } from './ingest/index.ts';
import { LearningService } from './learn/service.ts';
import { SqliteLearnStore } from './learn/store-sqlite.ts';
import { systemClock, systemTimers, type Clock, type Timers } from './lib/clock.ts';
import { createLogger, type Logger } from './lib/logger.ts';
import { createMetrics, type Metrics } from './metrics/index.ts';
import { MetricsReporter } from './metrics/reporter.ts';
import type { MetricsSink } from './metrics/sink.ts';
import { ProbeService } from './probes/service.ts';
import { SqliteProbeStore } from './probes/store-sqlite.ts';
import type { ProbeStore } from './probes/store.ts';
import { registerSandboxRoutes, sandboxOpenApiPaths } from './sandbox/routes.ts';
import { Sandbox } from './sandbox/sandbox.ts';
import { InfluxSource } from './sources/influx.ts';
import { SqliteStore } from './store/sqlite.ts';
import type { Store } from './store/types.ts';

export { correlateFor, specFor, toSpec } from './checks/spec.ts';

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
  /** Override the store (tests); default: SQLite at config.store.path. */
  store?: Store;
  /** Wrap a module's store or the metrics sink (tests: make one fail and watch the service survive). */
  wrap?: { probeStore?: (s: ProbeStore) => ProbeStore; alertStore?: (s: AlertStore) => AlertStore; sink?: (s: MetricsSink) => MetricsSink };
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
  logger: Logger;
  /** Listen on config.server; resolves with the bound address. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

export async function createService(config: Config, opts: ServiceOptions = {}): Promise<Service> {
  const clock = opts.clock ?? systemClock;
  const timers = opts.timers ?? systemTimers;
  const logger = opts.logger ?? createLogger();
  const auth = new Auth(config.auth.tokens, config.board.public);
  if (auth.open && !isLoopback(config.server.host)) {
    throw new StartupError(
      `refusing to listen on ${config.server.host} without API tokens: configure auth.tokens (or QUIETWATCH_TOKENS), or listen on 127.0.0.1`,
    );
  }
  const store = opts.store ?? new SqliteStore(config.store.path);
  const db = store.sqlite();
  if (!db) throw new StartupError('the probe and alert tables need the SQLite store');
  const metrics = createMetrics(config.metrics, { clock, logger });
  const sink = opts.wrap?.sink ? opts.wrap.sink(metrics.sink) : metrics.sink;

  // The engine's effects reach the modules through the router (built below, once they exist).
  let router: EffectRouter | undefined;
  let runtime: CheckRuntime | undefined;
  const { learning, specs } = await LearningService.create(config.checks, {
    store: new SqliteLearnStore(db),
    clock,
    timers,
    logger: logger.child({ component: 'learn' }),
    apply: (check, input) => runtime!.input(check, input),
    rateLow: (check) => runtime!.state(check)?.rateLow ?? false,
  });
  const isSynthetic = syntheticDetector(config.checks);
  runtime = new CheckRuntime({
    checks: config.checks.map((c) => ({ spec: specs.get(c.name)!, correlate: correlateFor(c), observe: learning.observer(c.name) })),
    store,
    clock,
    timers,
    logger,
    isSynthetic,
    onEffect: (effect, spec, state) => router!.dispatch(effect, { spec, state }),
  });
  const ingest = new Ingest({ runtime, sink, clock, isSynthetic, onCountError: (err) => logger.error({ err }, 'could not count an ingest batch') });
  const accept = (events: Parameters<Ingest['accept']>[0], what: string) =>
    ingest.accept(events).catch((err) => logger.error({ err }, `${what} could not be stored`));

  const sandbox = config.sandbox?.enabled
    ? new Sandbox({
        clock,
        timers,
        logger: logger.child({ component: 'sandbox' }),
        acquirerDelayMs: config.sandbox.acquirerDelay,
        timezone: config.sandbox.timezone,
        mode: config.sandbox.mode,
        streams: config.sandbox.streams,
        emit: (evs) => {
          const now = clock.now();
          void accept(
            evs.map((e) => ({ stream: e.stream, arrivedAt: now, time: e.time ?? now, ...(e.id ? { id: e.id } : {}), attributes: e.attributes ?? {} })),
            'sandbox events',
          );
        },
      })
    : undefined;

  const alertStore = new SqliteAlertStore(db);
  const alerts = createAlertManager(config.alerts, {
    store: opts.wrap?.alertStore ? opts.wrap.alertStore(alertStore) : alertStore,
    clock,
    timers,
    logger: logger.child({ component: 'alerts' }),
    onDelivery: (r) => sink.notification({ notifier: r.notifier, kind: r.action, outcome: r.outcome, deliveryMs: r.latencyMs, at: clock.now() }),
  });
  const alertEffects = new AlertEffects({ alerts, checks: config.checks, clock, logger });
  const probeStore = new SqliteProbeStore(db);
  const probes = new ProbeService({ config, store: opts.wrap?.probeStore ? opts.wrap.probeStore(probeStore) : probeStore, runtime, sink, clock, logger, sandbox });
  const componentHealth = async (): Promise<Record<string, boolean>> => ({
    store: await store.ping().then(() => true, () => false),
    alerts: (await alerts.health()).ok,
    metrics: !metrics.readiness().degraded,
    effects: router!.health().ok,
  });
  const reporter = new MetricsReporter({
    runtime,
    sink,
    clock,
    timers,
    logger,
    everyMs: config.metrics.stateInterval,
    openIncidents: async () => (await alerts.listIncidents({ open: true, limit: 1_000_000 })).length,
    health: componentHealth,
  });
  router = new EffectRouter(
    {
      flip: [reporter.onFlip],
      'fire-probe': [probes.onFire],
      'probe-proven': [probes.onProven],
      'probe-lost': [probes.onLost],
      alert: [alertEffects.onAlert],
    },
    { logger, now: () => clock.now(), onFailure: (f) => metrics.sink.effectFailure?.({ effect: f.effect, handler: f.handler, check: f.check, at: f.at }) },
  );

  // InfluxDB-fed checks: the newest point is the check's last event (through the one ingest path);
  // learned limits learn from the points counted per poll.
  const fed = config.checks.filter((c) => c.source).map((c) => ({ name: c.name, source: c.source! }));
  const influxSource =
    fed.length > 0
      ? new InfluxSource(fed, (check, t) => void accept([{ stream: specs.get(check)!.stream, check, arrivedAt: t, time: t, attributes: {} }], 'an InfluxDB point'), {
          clock,
          logger: logger.child({ component: 'influx-source' }),
          onCounts: (check, from, to, n) => learning.feedCounts(check, from, to, n),
        })
      : undefined;

  const plugins: ApiPlugin[] = [
    alertApiPlugin(alerts, { checkExists: (name) => runtime!.has(name) }) as ApiPlugin,
    boardPlugin({ runtime, clock, logger, incidents: () => alerts.listIncidents({ open: true }) }),
    probes.plugin(),
  ];
  if (sandbox) {
    plugins.push({ register: (app, { requireScope }) => registerSandboxRoutes(app, { sandbox, requireScope: (s) => requireScope(s) }), openApiPaths: sandboxOpenApiPaths });
  }
  const components = async (): Promise<Record<string, ComponentHealth>> => {
    const h = await alerts.health();
    const eff = router!.health();
    // Degraded, not unready: taking the service out of rotation would stop ingest, and then nothing could page.
    return {
      alerts: { ok: true, ...(h.ok ? {} : { degraded: true }), detail: h },
      metrics: metrics.readiness(),
      effects: { ok: true, ...(eff.ok ? {} : { degraded: true }), detail: eff },
    };
  };
  const app = await buildServer({
    runtime,
    store,
    auth,
    clock,
    logger,
    bodyLimit: config.server.bodyLimit,
    components,
    plugins,
    ingest: (events) => ingest.accept(events),
    checkDetails: async (name) => ({ incident: (await alerts.listIncidents({ open: true, check: name, limit: 1 }))[0] ?? null, ...(await probes.details(name)) }),
    listDetails: async () => new Map((await alerts.listIncidents({ open: true, limit: 1_000_000 })).map((i) => [i.check, { incident: i }])),
    ...(metrics.scrape ? { metrics: metrics.scrape } : {}),
  });

  let started = false;
  let pruneTimer: unknown;
  return {
    config,
    app,
    runtime,
    store,
    logger,
    probes,
    sandbox,
    metrics,
    alerts,
    effects: router,
    async listen() {
      started = true;
      await alerts.start();
      await probes.recover();
      await runtime!.start();
      await alertEffects.reconcile(runtime!);
      probes.startSchedules();
      sandbox?.start();
      // Polling starts once the history is in (a newer observed point would make the model skip it).
      if (influxSource) void learning.seedFed(influxSource).then(() => started && influxSource.start());
      reporter.start();
      learning.start();
      // Keep the store small: flips older than 90 days go, hourly.
      pruneTimer = timers.setInterval(() => {
        store.pruneFlips(clock.now() - 90 * 86_400_000).catch((err) => logger.error({ err }, 'could not prune old flips'));
      }, 3_600_000);
      const address = await app.listen({ host: config.server.host, port: config.server.port });
      if (auth.open) logger.warn({ address }, `no API tokens configured: the API is open and listens on loopback only (${address})`);
      logger.info({ address, checks: runtime!.names().length }, `quietwatch listening on ${address}`);
      return address;
    },
    async close() {
      started = false;
      reporter.stop();
      if (pruneTimer !== undefined) timers.clearInterval(pruneTimer);
      await learning.stop();
      influxSource?.stop();
      sandbox?.stop();
      runtime!.stop();
      await probes.stop();
      await router!.drain();
      await alertEffects.drained();
      await alerts.stop();
      await app.close();
      await runtime!.flushed();
      await metrics.close();
      await store.close();
    },
  };
}
