/**
 * The composition root: config in, a running service out. It only wires; each stage owns its rules.
 *
 *   ingest (API, sandbox, InfluxDB-fed points) -> checks runtime (pure engine, one timer)
 *     -> effects router -> probes | alerts | metrics          learn: limits, rate-drop verdicts
 */
import type { FastifyInstance } from 'fastify';
import { AlertEffects } from './alerts/effects.ts';
import { createAlertManager, dependenciesFrom } from './alerts/index.ts';
import type { AlertManager } from './alerts/manager.ts';
import { alertApiPlugin } from './alerts/routes.ts';
import { SqliteAlertStore } from './alerts/store-sqlite.ts';
import type { AlertStore } from './alerts/outbox.ts';
import { Auth, isLoopback } from './api/auth.ts';
import { buildServer, type ApiPlugin, type ComponentHealth } from './api/server.ts';
import { BoardHistory, boardPlugin } from './board/index.ts';
import { unroutedChecks } from './alerts/unrouted.ts';
import { Watchdog, watchdogOptions } from './watchdog/index.ts';
import { serviceHealth } from './watchdog/health.ts';
import { CheckRuntime } from './checks/runtime.ts';
import { correlateFor, syntheticDetector } from './checks/spec.ts';
import type { Config } from './config/schema.ts';
import { EffectRouter } from './effects/router.ts';
import { Ingest } from './ingest/index.ts';
import { influxWritePlugin } from './ingest/influx-write-routes.ts';
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
import { createStores, type Stores } from './store/index.ts';
import type { Store } from './store/types.ts';
import { EventRelay } from './ha/relay.ts';
import { QuietwatchError } from './lib/errors.ts';

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
  // The store: SQLite (one process, always the leader) or PostgreSQL (replicas under one leader lease).
  let stores: Stores;
  if (opts.store) {
    const db = opts.store.sqlite();
    if (!db) throw new StartupError('ServiceOptions.store must be a SQLite store (PostgreSQL comes from config.store.url)');
    stores = { kind: 'sqlite', store: opts.store, alertStore: new SqliteAlertStore(db), probeStore: new SqliteProbeStore(db), learnStore: new SqliteLearnStore(db), where: 'test', close: () => opts.store!.close() };
  } else {
    try {
      stores = await createStores(config.store, { logger: logger.child({ component: 'store' }), lease: opts.lease });
    } catch (err) {
      // unreachable server, wrong password, a newer schema: a clear message (host and port, never the password)
      if (err instanceof QuietwatchError) throw new StartupError(`store: ${err.message}`);
      throw err;
    }
  }
  const store = stores.store;
  const lease = stores.lease;
  const isLeader = () => (lease ? lease.isLeader() : true);
  const relay = stores.pg && lease ? new EventRelay({ db: stores.pg, replica: lease.holder, logger: logger.child({ component: 'relay' }), timers }) : undefined;
  const metrics = createMetrics(config.metrics, { clock, logger });
  const sink = opts.wrap?.sink ? opts.wrap.sink(metrics.sink) : metrics.sink;

  // The engine's effects reach the modules through the router (built below, once they exist).
  let router: EffectRouter | undefined;
  let runtime: CheckRuntime | undefined;
  const { learning, specs } = await LearningService.create(config.checks, {
    store: stores.learnStore,
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
    // A replica that lost the lease acts on nothing (sends and charges are fenced in the store too).
    onEffect: (effect, spec, state) => {
      if (isLeader()) return router!.dispatch(effect, { spec, state });
      logger.warn({ check: spec.name, effect: effect.type }, 'effect dropped: this replica is not the leader');
    },
  });
  const ingest = new Ingest({ runtime, sink, clock, isSynthetic, onCountError: (err) => logger.error({ err }, 'could not count an ingest batch') });
  // With replicas every accepted event goes through the relay (committed, then 202); the leader applies them.
  const boardHistory = new BoardHistory({ runtime, clock, isSynthetic });
  const acceptBatch = async (events: Parameters<Ingest['accept']>[0]) => {
    const r = await (relay ? relay.append(events) : ingest.accept(events));
    boardHistory.recordEvents(events);
    return r;
  };
  const accept = (events: Parameters<Ingest['accept']>[0], what: string) =>
    acceptBatch(events).catch((err) => logger.error({ err }, `${what} could not be stored`));

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

  const alertStore = stores.alertStore;
  const alerts = createAlertManager(config.alerts, {
    dependencies: dependenciesFrom(config.checks),
    store: opts.wrap?.alertStore ? opts.wrap.alertStore(alertStore) : alertStore,
    clock,
    timers,
    logger: logger.child({ component: 'alerts' }),
    onDelivery: (r) => sink.notification({ notifier: r.notifier, kind: r.action, outcome: r.outcome, deliveryMs: r.latencyMs, at: clock.now() }),
  });
  const alertEffects = new AlertEffects({ alerts, checks: config.checks, clock, logger });
  const probeStore = stores.probeStore;
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
          onCounts: (check, from, to, n) => {
            learning.feedCounts(check, from, to, n);
            boardHistory.recordCount(check, to - 1, n);
          },
        })
      : undefined;

  const plugins: ApiPlugin[] = [
    alertApiPlugin(alerts, { checkExists: (name) => runtime!.has(name) }) as ApiPlugin,
    boardPlugin({ runtime, clock, logger, incidents: () => alerts.listIncidents({ open: true }), history: boardHistory, flips: (check, limit) => store.listFlips(check, limit) }),
    probes.plugin(),
  ];
  // Telegraf and InfluxDB clients: line protocol on /api/v2/write and /write, through the same ingest path.
  plugins.push(influxWritePlugin({ ingest: async (events) => void (await acceptBatch(events)), clock, logger, bodyLimit: config.server.bodyLimit, maxClockSkewMs: config.ingest.maxClockSkew }));
  if (sandbox) {
    plugins.push({ register: (app, { requireScope }) => registerSandboxRoutes(app, { sandbox, requireScope: (s) => requireScope(s) }), openApiPaths: sandboxOpenApiPaths });
  }
  const unrouted = unroutedChecks(config);
  for (const u of unrouted) logger.warn({ check: u.check, pages: u.pages, warnings: u.warnings }, u.message);
  const watchdog = config.watchdog
    ? new Watchdog(watchdogOptions(config.watchdog), { clock, logger, scheduler: timers, health: serviceHealth({ runtime, store, alerts, clock }) })
    : undefined;
  const components = async (): Promise<Record<string, ComponentHealth>> => {
    const h = await alerts.health();
    const eff = router!.health();
    // Degraded, not unready: taking the service out of rotation would stop ingest, and then nothing could page.
    const replica = { role: isLeader() ? 'leader' : 'follower', ...(lease ? { holder: lease.holder, ...(lease.token() !== undefined ? { token: lease.token() } : {}) } : {}) };
    return {
      replica: { ok: true, detail: replica },
      alerts: { ok: true, ...(h.ok ? {} : { degraded: true }), detail: h },
      metrics: metrics.readiness(),
      effects: { ok: true, ...(eff.ok ? {} : { degraded: true }), detail: eff },
      ...(watchdog ? { watchdog: watchdog.readiness() } : {}),
      ...(unrouted.length ? { routing: { ok: true, detail: unrouted.map((u) => u.message) } } : {}),
    };
  };
  const app = await buildServer({
    runtime,
    store,
    auth,
    clock,
    logger,
    bodyLimit: config.server.bodyLimit,
    requestTimeoutMs: config.server.requestTimeout,
    maxClockSkewMs: config.ingest.maxClockSkew,
    ...(config.server.publicUrl ? { allowedHosts: [new URL(config.server.publicUrl).hostname] } : {}),
    components,
    plugins,
    ingest: acceptBatch,
    checkDetails: async (name) => ({ incident: (await alerts.listIncidents({ open: true, check: name, limit: 1 }))[0] ?? null, ...(await probes.details(name)), ...learning.details(name) }),
    listDetails: async () => new Map((await alerts.listIncidents({ open: true, limit: 1_000_000 })).map((i) => [i.check, { incident: i }])),
    ...(metrics.scrape ? { metrics: metrics.scrape } : {}),
  });

  let started = false;
  let leading = false;
  let sourceStarted: () => void = () => {};
  const sourceStartedP = new Promise<void>((r) => (sourceStarted = r));
  let pruneTimer: unknown;
  let roleTimer: unknown;
  let mirrorTimer: unknown;
  const reportRole = () => sink.health({ component: 'leader', ok: isLeader(), at: clock.now() });
  /** The leader's duties, in the order a restart takes them (SQLite: at once; PostgreSQL: when elected). */
  const lead = async () => {
    if (mirrorTimer !== undefined) timers.clearInterval(mirrorTimer);
    mirrorTimer = undefined;
    leading = true;
    reportRole();
    await alerts.start();
    await probes.recover();
    // PostgreSQL: a takeover from a replica that led until moments ago resumes its checks as saved,
    // after the events relayed meanwhile are in (silence measured from the events in the database,
    // never from this start). A first start, or one long after the last leader, takes the restart rule.
    const h = lease?.handover();
    const resume = !!relay && !!h && !h.first && h.msSinceLapse <= Math.max(60_000, 2 * lease!.ttlMs);
    if (resume) {
      runtime!.adopt(await store.loadCheckStates());
      await relay!.drainBacklog((events) => ingest.accept(events));
      // Checks with a probe take the restart rule: a quiet deadline caught up after the gap would fire
      // a probe whose own deadline has already passed (never charged, PROBE_EXPIRED), and the probe
      // would then stay silent until pageAfter. Their probe detects a silence quickly anyway.
      const probed = new Set(config.checks.filter((c) => c.probe).map((c) => c.name));
      await runtime!.start({ resume: (name) => !probed.has(name) });
      logger.info({ previous: h && !h.first ? h.previousHolder : undefined, ms_since_lapse: h && !h.first ? h.msSinceLapse : undefined }, 'took over: checks resumed from the saved states and the relayed events');
    } else await runtime!.start();
    await alertEffects.reconcile(runtime!);
    probes.startSchedules();
    sandbox?.start();
    // Polling starts once the history is in (a newer observed point would make the model skip it).
    if (influxSource) void learning.seedFed(influxSource).then(() => (started && leading && influxSource.start(), sourceStarted()));
    else sourceStarted();
    reporter.start();
    watchdog?.start(); // only the leader beats: a follower's heartbeat would hide a dead leader
    learning.start();
    relay?.start((events) => ingest.accept(events));
    // Keep the store small: flips older than 90 days go, hourly.
    pruneTimer = timers.setInterval(() => {
      store.pruneFlips(clock.now() - 90 * 86_400_000).catch((err) => logger.error({ err }, 'could not prune old flips'));
    }, 3_600_000);
    if (lease) logger.info({ store: stores.where, holder: lease.holder, token: lease.token() }, 'leading: evaluating deadlines, firing probes, sending notifications');
  };
  /** Stop the leader's duties (this replica lost the lease). Learned models are not saved: the new leader's are newer. */
  const stopLeading = async () => {
    if (!leading) return;
    leading = false;
    await watchdog?.stop();
    reporter.stop();
    if (pruneTimer !== undefined) timers.clearInterval(pruneTimer);
    pruneTimer = undefined;
    influxSource?.stop();
    sandbox?.stop();
    runtime!.stop();
    await relay?.stop();
    await probes.stop();
    await alerts.stop();
  };
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
    source: influxSource,
    sourceStarted: sourceStartedP,
    role: () => (isLeader() ? 'leader' : 'follower'),
    async listen() {
      started = true;
      if (!lease) await lead();
      else {
        // A follower serves the API from the states the leader saves, refreshed every second.
        const mirror = () => {
          if (leading) return;
          store.loadCheckStates().then(
            (saved) => !leading && runtime!.adopt(saved),
            (err) => logger.warn({ err_code: (err as { code?: string }).code, error: (err as Error).message }, 'follower: could not read check states'),
          );
        };
        mirror();
        mirrorTimer = timers.setInterval(mirror, 1000);
        lease.on('elected', () => {
          lead().catch((err) => logger.error({ err }, 'could not take up the leader duties'));
        });
        lease.on('deposed', (reason) => {
          reportRole();
          logger.error({ reason }, 'lost the leader lease: stopping the leader duties');
          if (opts.onDeposed) return opts.onDeposed(reason);
          void lease.stop({ release: false });
          stopLeading().catch((err) => logger.error({ err }, 'could not stop the leader duties'));
        });
        lease.start();
        roleTimer = timers.setInterval(reportRole, config.metrics.stateInterval);
        reportRole();
      }
      const address = await app.listen({ host: config.server.host, port: config.server.port });
      if (auth.open) logger.warn({ address }, `no API tokens configured: the API is open and listens on loopback only (${address})`);
      logger.info({ address, checks: runtime!.names().length }, `quietwatch listening on ${address}`);
      return address;
    },
    async close() {
      await watchdog?.stop();
      started = false;
      const wasLeading = leading || !lease;
      leading = false;
      if (mirrorTimer !== undefined) timers.clearInterval(mirrorTimer);
      if (roleTimer !== undefined) timers.clearInterval(roleTimer);
      reporter.stop();
      if (pruneTimer !== undefined) timers.clearInterval(pruneTimer);
      // only the leader's models are the newest: a follower saving its own would undo the leader's
      if (wasLeading) await learning.stop();
      influxSource?.stop();
      sandbox?.stop();
      runtime!.stop();
      await relay?.stop();
      await probes.stop();
      await router!.drain();
      await alertEffects.drained();
      await alerts.stop();
      await app.close();
      await runtime!.flushed();
      await metrics.close();
      // PostgreSQL: the lease is released, so a follower takes over at its next try
      await stores.close();
    },
  };
}
