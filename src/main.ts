/**
 * The composition root: config in, a running service out. It only wires; each stage owns its rules.
 *
 *   ingest (API, sandbox, InfluxDB points, line protocol) -> checks runtime (pure engine, one timer)
 *     -> effects router -> probes | alerts | metrics        learn: limits, rate-drop verdicts
 *   ha/leadership: who runs the leader's duties (always this process with SQLite)
 */
import { AlertEffects } from './alerts/effects.ts';
import { createAlertManager, createNotifiers, dependenciesFrom } from './alerts/index.ts';
import { StoreWatch } from './alerts/store-watch.ts';
import { alertApiPlugin } from './alerts/routes.ts';
import { logUnrouted, routingDetail, unroutedChecks } from './alerts/unrouted.ts';
import { Auth, isLoopback } from './api/auth.ts';
import { buildServer, type ApiPlugin, type ComponentHealth } from './api/server.ts';
import { BoardHistory, boardPlugin } from './board/index.ts';
import { CheckRuntime, type RuntimeCheck } from './checks/runtime.ts';
import { correlateFor, syntheticDetector } from './checks/spec.ts';
import type { CheckSpec } from './checks/types.ts';
import type { Config } from './config/schema.ts';
import { EffectRouter } from './effects/router.ts';
import { Leadership } from './ha/leadership.ts';
import { EventRelay } from './ha/relay.ts';
import { Ingest, type IngestEvent } from './ingest/index.ts';
import { influxWritePlugin } from './ingest/influx-write-routes.ts';
import { LearningService } from './learn/service.ts';
import { systemClock, systemTimers } from './lib/clock.ts';
import { QuietwatchError } from './lib/errors.ts';
import { createLogger } from './lib/logger.ts';
import { createMetrics } from './metrics/index.ts';
import { MetricsReporter } from './metrics/reporter.ts';
import { ProbeService } from './probes/service.ts';
import { registerSandboxRoutes, sandboxOpenApiPaths } from './sandbox/routes.ts';
import { Sandbox } from './sandbox/sandbox.ts';
import { StartupError, type Service, type ServiceOptions } from './service-types.ts';
import { InfluxSource } from './sources/influx.ts';
import { createStores, storesOver } from './store/index.ts';
import { Watchdog, watchdogOptions } from './watchdog/index.ts';
import { serviceHealth } from './watchdog/health.ts';

export { correlateFor, specFor, toSpec } from './checks/spec.ts';
export { StartupError, type Service, type ServiceOptions } from './service-types.ts';

const degradedUnless = (ok: boolean, detail: unknown): ComponentHealth => ({ ok: true, ...(ok ? {} : { degraded: true }), detail });

/**
 * The runtime's check list. Out of createService: a closure there over `specs` would keep the map
 * (3.7 MB at 100,000 checks) for the life of the service (every closure of a function shares its
 * variables), and the runtime holds the specs already.
 */
function runtimeChecks(checks: Config['checks'], specs: ReadonlyMap<string, CheckSpec>, learning: LearningService): RuntimeCheck[] {
  return checks.map((c) => ({ spec: specs.get(c.name)!, correlate: correlateFor(c), observe: learning.observer(c.name) }));
}

export async function createService(config: Config, opts: ServiceOptions = {}): Promise<Service> {
  const clock = opts.clock ?? systemClock;
  const timers = opts.timers ?? systemTimers;
  const logger = opts.logger ?? createLogger();
  const auth = new Auth(config.auth.tokens, config.board.public);
  if (auth.open && !isLoopback(config.server.host)) {
    throw new StartupError(`refusing to listen on ${config.server.host} without API tokens: configure auth.tokens (or QUIETWATCH_TOKENS), or listen on 127.0.0.1`);
  }
  // The store: SQLite (one process, always the leader) or PostgreSQL (replicas under one leader lease).
  // Unreachable server, wrong password, a newer schema: a clear message (host and port, never the password).
  const stores = opts.store
    ? storesOver(opts.store)
    : await createStores(config.store, { logger: logger.child({ component: 'store' }), lease: opts.lease, sqliteWriter: opts.sqliteWriter }).catch((err) => {
        throw err instanceof QuietwatchError ? new StartupError(`store: ${err.message}`) : err;
      });
  const { store, lease } = stores;
  const relay = stores.pg && lease ? new EventRelay({ db: stores.pg, replica: lease.holder, logger: logger.child({ component: 'relay' }), timers }) : undefined;
  const metrics = createMetrics(config.metrics, { clock, logger });
  const sink = opts.wrap?.sink ? opts.wrap.sink(metrics.sink) : metrics.sink;

  // The engine's effects reach the modules through the router (built below, once they exist).
  let router: EffectRouter | undefined;
  let leadership: Leadership | undefined;
  let runtime: CheckRuntime | undefined;
  const { learning, specs } = await LearningService.create(config.checks, {
    store: stores.learnStore, clock, timers, logger: logger.child({ component: 'learn' }),
    apply: (check, input) => runtime!.input(check, input),
    rateLow: (check) => runtime!.state(check)?.rateLow ?? false,
  });
  const isSynthetic = syntheticDetector(config.checks);
  runtime = new CheckRuntime({
    checks: runtimeChecks(config.checks, specs, learning),
    store, clock, timers, logger, isSynthetic,
    // A replica that lost the lease acts on nothing (sends and charges are fenced in the store too).
    onEffect: (effect, spec, state) => {
      if (leadership!.isLeader()) return router!.dispatch(effect, { spec, state });
      logger.warn({ check: spec.name, effect: effect.type }, 'effect dropped: this replica is not the leader');
    },
  });
  const ingest = new Ingest({ runtime, sink, clock, isSynthetic, onCountError: (err) => logger.error({ err }, 'could not count an ingest batch') });
  const boardHistory = new BoardHistory({ runtime, clock, isSynthetic });
  // With replicas every accepted event goes through the relay (committed, then 202); the leader applies them.
  const acceptBatch = async (events: readonly IngestEvent[]) => {
    const r = await (relay ? relay.append(events) : ingest.accept(events));
    boardHistory.recordEvents(events);
    return r;
  };
  const accept = (events: IngestEvent[], what: string) => acceptBatch(events).catch((err) => logger.error({ err }, `${what} could not be stored`));

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
          void accept(evs.map((e) => ({ stream: e.stream, arrivedAt: now, time: e.time ?? now, ...(e.id ? { id: e.id } : {}), attributes: e.attributes ?? {} })), 'sandbox events');
        },
      })
    : undefined;
  const notifiers = createNotifiers(config.alerts.notifiers, { logger });
  const alerts = createAlertManager(config.alerts, {
    notifiers,
    dependencies: dependenciesFrom(config.checks),
    store: opts.wrap?.alertStore ? opts.wrap.alertStore(stores.alertStore) : stores.alertStore,
    clock,
    timers,
    logger: logger.child({ component: 'alerts' }),
    onDelivery: (r) => sink.notification({ notifier: r.notifier, kind: r.action, outcome: r.outcome, deliveryMs: r.latencyMs, at: clock.now() }),
  });
  const alertEffects = new AlertEffects({ alerts, checks: config.checks, clock, logger });
  const probes = new ProbeService({ config, store: opts.wrap?.probeStore ? opts.wrap.probeStore(stores.probeStore) : stores.probeStore, runtime, sink, clock, logger, sandbox });
  const reporter = new MetricsReporter({
    runtime, sink, clock, timers, logger, everyMs: config.metrics.stateInterval,
    openIncidents: async () => (await alerts.listIncidents({ open: true, limit: 1_000_000 })).length,
    health: async () => ({ store: await store.ping().then(() => true, () => false), alerts: (await alerts.health()).ok, metrics: !metrics.readiness().degraded, effects: router!.health().ok }),
  });
  router = new EffectRouter(
    { flip: [reporter.onFlip], 'fire-probe': [probes.onFire], 'probe-proven': [probes.onProven], 'probe-lost': [probes.onLost], alert: [alertEffects.onAlert] },
    { logger, now: () => clock.now(), onFailure: (f) => metrics.sink.effectFailure?.({ effect: f.effect, handler: f.handler, check: f.check, at: f.at }) },
  );

  // InfluxDB-fed checks: the newest point is the check's last event (the one ingest path); learned
  // limits and the board learn from the points counted per poll.
  const fed = config.checks.filter((c) => c.source).map((c) => ({ name: c.name, source: c.source! }));
  const influxSource = fed.length
    ? new InfluxSource(fed, (check, t) => void accept([{ stream: runtime!.spec(check)!.stream, check, arrivedAt: t, time: t, attributes: {} }], 'an InfluxDB point'), {
        clock,
        logger: logger.child({ component: 'influx-source' }),
        onCounts: (check, from, to, n) => (learning.feedCounts(check, from, to, n), boardHistory.recordCount(check, to - 1, n)),
      })
    : undefined;
  let sourceStarted: () => void = () => {};
  const sourceStartedP = new Promise<void>((r) => (sourceStarted = r));

  const plugins: ApiPlugin[] = [
    alertApiPlugin(alerts, { checkExists: (name) => runtime!.has(name) }) as ApiPlugin,
    boardPlugin({ runtime, clock, logger, incidents: () => alerts.listIncidents({ open: true }), history: boardHistory, flips: (check, limit) => store.listFlips(check, limit), replica: () => leadership!.replica() }),
    probes.plugin(),
    // Telegraf and InfluxDB clients: line protocol on /api/v2/write and /write, through the same ingest path.
    influxWritePlugin({ ingest: async (events) => void (await acceptBatch(events)), clock, logger, bodyLimit: config.server.bodyLimit, maxClockSkewMs: config.ingest.maxClockSkew }),
  ];
  if (sandbox) plugins.push({ register: (app, { requireScope }) => registerSandboxRoutes(app, { sandbox, requireScope: (s) => requireScope(s) }), openApiPaths: sandboxOpenApiPaths });
  // Every replica watches its store and pages through the fallback route when it is lost (not a leader duty: then there is none).
  const fallback = config.alerts.escalation?.fallback.length ? config.alerts.escalation.fallback : config.alerts.routes.default.page;
  const storeWatch = new StoreWatch({ where: stores.where, ping: () => store.ping(), writeFailure: () => runtime!.storeWriteFailure(), retryWrites: () => runtime!.retryWrites(), notifiers: fallback.map((n) => notifiers[n]!).filter(Boolean), afterMs: config.store.lostAfter, everyMs: Math.min(5_000, config.store.lostAfter), clock, timers, logger: logger.child({ component: 'store-watch' }) });
  // Only the /readyz lines are kept: the full list (a message per check) was ~170 bytes a check at rest.
  const routingLines = (() => {
    const unrouted = unroutedChecks(config);
    logUnrouted(unrouted, logger);
    return unrouted.length ? routingDetail(unrouted) : undefined;
  })();
  const watchdog = config.watchdog ? new Watchdog(watchdogOptions(config.watchdog), { clock, logger, scheduler: timers, health: serviceHealth({ runtime, store, alerts, clock }) }) : undefined;

  // Keep the store small: flips older than 90 days go, hourly.
  let pruneTimer: unknown;
  const pruning = {
    start: () => void (pruneTimer = timers.setInterval(() => store.pruneFlips(clock.now() - 90 * 86_400_000).catch((err) => logger.error({ err }, 'could not prune old flips')), 3_600_000)),
    stop: () => timers.clearInterval(pruneTimer),
  };
  leadership = new Leadership({
    lease, relay, store, runtime, timers, sink, logger,
    apply: (events) => ingest.accept(events),
    before: {
      start: async () => (await alerts.start(), await probes.recover()),
      stop: async () => (await probes.stop(), await router!.drain(), await alerts.stop()),
    },
    // A takeover: the learned models the previous leader saved, not those loaded at this replica's start;
    // the board's state strips get the flips it made meanwhile.
    reload: async () => {
      const checks = await learning.reload();
      if (checks.length) logger.info({ checks: checks.length }, 'took over: learned models reloaded from the store');
      await boardHistory.reloadAll((check, limit) => store.listFlips(check, limit)).catch((err) => logger.warn({ err }, 'took over: could not read stored flips for the board'));
    },
    // In order after the runtime's restart rule; stopped in reverse when the lease is lost.
    duties: [
      { start: () => alertEffects.reconcile(runtime!), stop: () => {} },
      { start: () => probes.startSchedules(), stop: () => {} },
      { start: () => sandbox?.start(), stop: () => sandbox?.stop() },
      {
        // Polling starts once the history is in (a newer observed point would make the model skip it).
        start: () => void (influxSource ? learning.seedFed(influxSource).then(() => (leadership!.leads() && influxSource.start(), sourceStarted())) : sourceStarted()),
        stop: () => influxSource?.stop(),
      },
      reporter,
      { start: () => watchdog?.start(), stop: () => watchdog?.stop() }, // a follower's heartbeat would hide a dead leader
      { start: () => learning.start(), stop: () => learning.pause() },
      pruning,
    ],
    restartRuleAlways: new Set(config.checks.filter((c) => c.probe).map((c) => c.name)),
    now: () => clock.now(),
    reportEveryMs: config.metrics.stateInterval,
    onDeposed: opts.onDeposed,
  });

  const components = async (): Promise<Record<string, ComponentHealth>> => {
    const h = await alerts.health();
    const eff = router!.health();
    // Degraded, not unready: taking the service out of rotation would stop ingest, and then nothing could page.
    const wf = runtime!.storeWriteFailure();
    return {
      ...(wf ? { store: { ok: true, degraded: true, detail: { writesFailingSince: wf.since, error: wf.message, lostStorePage: storeWatch.health().page } } } : {}),
      replica: { ok: true, detail: leadership!.detail() },
      alerts: degradedUnless(h.ok, h),
      metrics: metrics.readiness(),
      effects: degradedUnless(eff.ok, eff),
      ...(watchdog ? { watchdog: watchdog.readiness() } : {}),
      ...(routingLines ? { routing: { ok: true, detail: routingLines } } : {}),
    };
  };
  const app = await buildServer({
    runtime, store, auth, clock, logger, components, plugins, ingest: acceptBatch,
    bodyLimit: config.server.bodyLimit,
    requestTimeoutMs: config.server.requestTimeout,
    maxClockSkewMs: config.ingest.maxClockSkew,
    ...(config.server.publicUrl ? { allowedHosts: [new URL(config.server.publicUrl).hostname] } : {}),
    checkDetails: async (name) => ({ incident: (await alerts.listIncidents({ open: true, check: name, limit: 1 }))[0] ?? null, ...(await probes.details(name)), ...learning.details(name) }),
    listDetails: async () => new Map((await alerts.listIncidents({ open: true, limit: 1_000_000 })).map((i) => [i.check, { incident: i }])),
    ...(metrics.scrape ? { metrics: metrics.scrape } : {}),
  });

  return {
    config, app, runtime, store, logger, probes, sandbox, metrics, alerts, effects: router, source: influxSource, sourceStarted: sourceStartedP,
    role: () => leadership!.role(),
    async listen() {
      storeWatch.start();
      await leadership!.start();
      const address = await app.listen({ host: config.server.host, port: config.server.port });
      if (auth.open) logger.warn({ address }, `no API tokens configured: the API is open and listens on loopback only (${address})`);
      logger.info({ address, checks: runtime!.names().length }, `quietwatch listening on ${address}`);
      return address;
    },
    async close() {
      storeWatch.stop();
      // Only the leader's models are the newest: a follower saving its own would undo the leader's.
      if (leadership!.leads() || !lease) await learning.save().catch((err) => logger.error({ err }, 'could not save learned models'));
      await leadership!.stop();
      await app.close();
      await runtime!.flushed();
      await metrics.close();
      // PostgreSQL: the lease is released, so a follower takes over at its next try.
      await stores.close();
    },
  };
}
