/**
 * The composition root: config in, a running service out. Everything is wired here and only here.
 */
import type { FastifyInstance } from 'fastify';
import { Auth, isLoopback } from './api/auth.ts';
import { buildServer, type ApiPlugin, type ComponentHealth } from './api/server.ts';
import type { AttrValue, Correlate, RuntimeCheck } from './checks/runtime.ts';
import { CheckRuntime, attributePath } from './checks/runtime.ts';
import type { CheckSpec, Effect } from './checks/types.ts';
import type { CheckConfig, Config } from './config/schema.ts';
import { systemClock, type Clock } from './lib/clock.ts';
import { createLogger, type Logger } from './lib/logger.ts';
import { SqliteStore } from './store/sqlite.ts';
import type { Store } from './store/types.ts';
import { ProbeManager } from './probes/manager.ts';
import { createDrivers } from './probes/registry.ts';
import { ProbeScheduler } from './probes/schedule.ts';
import { SqliteProbeStore } from './probes/store-sqlite.ts';
import { Sandbox, type SandboxEvent } from './sandbox/sandbox.ts';
import { registerSandboxRoutes, sandboxOpenApiPaths } from './sandbox/routes.ts';
import { errorBody } from './api/server.ts';
import { createMetrics, type Metrics } from './metrics/index.ts';
import { InfluxSource } from './sources/influx.ts';
import { createAlertManager } from './alerts/index.ts';
import { alertApiPlugin } from './alerts/routes.ts';
import { boardPlugin } from './board/index.ts';
import { SqliteAlertStore } from './alerts/store-sqlite.ts';
import type { AlertManager } from './alerts/manager.ts';
import { evaluateRateDrop } from './learn/rate-drop.ts';
import { specLimits } from './learn/spec.ts';
import type { LearnedLimits, ModelState } from './learn/model.ts';
import { SqliteLearnStore } from './learn/store-sqlite.ts';
import type { IngestEvent } from './checks/runtime.ts';
import { correlateFor, specFor } from './checks/spec.ts';
export { correlateFor, specFor, toSpec } from './checks/spec.ts';

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

export interface ServiceOptions {
  clock?: Clock;
  logger?: Logger;
  /** Override the store (tests); default: SQLite at config.store.path. */
  store?: Store;
}

export interface Service {
  config: Config;
  app: FastifyInstance;
  runtime: CheckRuntime;
  store: Store;
  probes: ProbeManager;
  sandbox?: Sandbox;
  metrics: Metrics;
  alerts: AlertManager;
  logger: Logger;
  /** Listen on config.server; resolves with the bound address. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

export async function createService(config: Config, opts: ServiceOptions = {}): Promise<Service> {
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? createLogger();
  const auth = new Auth(config.auth.tokens, config.board.public);
  if (auth.open && !isLoopback(config.server.host)) {
    throw new StartupError(
      `refusing to listen on ${config.server.host} without API tokens: configure auth.tokens (or QUIETWATCH_TOKENS), or listen on 127.0.0.1`,
    );
  }
  const store = opts.store ?? new SqliteStore(config.store.path);

  const checkConfigs = new Map(config.checks.map((c) => [c.name, c]));
  const db = store.sqlite();
  if (!db) throw new StartupError('the probe and alert tables need the SQLite store');

  // --- learned limits: restored from the store, fed by every real event ------------------------------
  const learnStore = new SqliteLearnStore(db);
  const learned = new Map<string, LearnedLimits>();
  /** Rate-drop: the open window of each check (real events counted in it), and windows closed but not yet judged. */
  const windowCounts = new Map<string, { start: number; count: number }>();
  const closedWindows = new Map<string, Array<{ start: number; end: number; count: number }>>();
  /**
   * Close every rate-drop window of check c that ended by t (by event time, so an event counts in
   * the window it happened in, however late the judging timer runs). The first window starts at
   * the next boundary. Closed windows are judged later (judgeClosed), never inside ingest.
   */
  const rollWindows = (c: CheckConfig, t: number) => {
    const rd = c.learn!.rateDrop!;
    let w = windowCounts.get(c.name);
    if (!w) {
      windowCounts.set(c.name, { start: Math.floor(t / rd.window) * rd.window + rd.window, count: 0 });
      return;
    }
    while (t >= w.start + rd.window) {
      const end: number = w.start + rd.window;
      const closed = closedWindows.get(c.name) ?? [];
      closed.push({ start: w.start, end, count: w.count });
      closedWindows.set(c.name, closed);
      w = { start: end, count: 0 };
      windowCounts.set(c.name, w);
    }
  };
  const checks: RuntimeCheck[] = [];
  for (const c of config.checks) {
    const needsModel = c.learn && (c.quietAfter === 'auto' || c.pageAfter === 'auto');
    const saved = needsModel ? await learnStore.load(c.name) : null;
    const spec = specFor(c, saved?.state);
    let observe: ((at: number) => void) | undefined;
    if (spec.limits && c.learn) {
      const limits = spec.limits as LearnedLimits;
      learned.set(c.name, limits);
      // Models are saved every minute and at shutdown: from then until now nobody watched a pushed
      // stream, and that time must not be learned as silence. (A fed check's model counts what
      // InfluxDB saw meanwhile instead.)
      if (saved && !c.source) limits.model.skipTo(saved.savedAt, clock.now());
      const rd = c.learn.rateDrop;
      observe = (at) => {
        limits.observe(at);
        if (rd) {
          rollWindows(c, at);
          const w = windowCounts.get(c.name)!;
          if (at >= w.start) w.count++;
        }
      };
    }
    checks.push({ spec, correlate: correlateFor(c), observe });
  }
  const saveModels = async () => {
    const now = clock.now();
    for (const [name, limits] of learned) await learnStore.save(name, limits.model.toJSON(), now);
  };

  // --- metrics -----------------------------------------------------------------------------------
  const metrics = createMetrics(config.metrics, { clock, logger });
  const sink = metrics.sink;
  // A synthetic (probe) transaction, whichever check sent it: it carries a probe-id attribute, or the
  // probe card's token and the probe amount. Those are counted apart and never teach learned limits.
  const probeAttrs = [...new Set(config.checks.map((c) => (c.probe && 'attribute' in c.probe.correlate ? c.probe.correlate.attribute : 'probe_id')))];
  const probeCards = config.checks.flatMap((c) =>
    c.probe && 'cardToken' in c.probe.correlate ? [{ ...c.probe.correlate, amount: String(c.probe.amount) }] : [],
  );
  // Asked by the runtime (learning checks) and by the event counters for the same attributes
  // object: answer each event once.
  const syntheticSeen = new WeakMap<object, boolean>();
  const isSynthetic = (attrs: Record<string, AttrValue>) => {
    let v = syntheticSeen.get(attrs);
    if (v === undefined) {
      v =
        probeAttrs.some((a) => attributePath(attrs, a) !== undefined) ||
        probeCards.some((p) => attributePath(attrs, p.cardTokenAttribute) === p.cardToken && String(attributePath(attrs, p.amountAttribute)) === p.amount);
      syntheticSeen.set(attrs, v);
    }
    return v;
  };
  const countEvents = (events: readonly IngestEvent[]) => {
    // Aggregate per batch: one call per (stream, synthetic) and one lag sample per event.
    const counts = new Map<string, [number, number]>();
    for (const e of events) {
      let c = counts.get(e.stream);
      if (!c) counts.set(e.stream, (c = [0, 0]));
      const synthetic = isSynthetic(e.attributes);
      c[synthetic ? 1 : 0]++;
      sink.lag(e.stream, e.arrivedAt - e.time, e.arrivedAt);
    }
    const now = clock.now();
    for (const [stream, [real, synth]] of counts) {
      if (real) sink.events(stream, real, false, now);
      if (synth) sink.events(stream, synth, true, now);
    }
  };

  // --- sandbox: a simulated card pipeline feeding ingest ---------------------------------------
  let runtime: CheckRuntime;
  const onAccepted: Array<(events: readonly IngestEvent[]) => void> = [countEvents];
  const ingestInternal = async (events: readonly IngestEvent[]) => {
    await runtime.ingest(events);
    for (const f of onAccepted) f(events);
  };
  const sandbox =
    config.sandbox && config.sandbox.enabled
      ? new Sandbox({
          clock,
          logger: logger.child({ component: 'sandbox' }),
          acquirerDelayMs: config.sandbox.acquirerDelay,
          timezone: config.sandbox.timezone,
          mode: config.sandbox.mode,
          streams: config.sandbox.streams,
          emit: (evs: SandboxEvent[]) => {
            const now = clock.now();
            const events = evs.map((e) => ({ stream: e.stream, arrivedAt: now, time: e.time ?? now, ...(e.id ? { id: e.id } : {}), attributes: e.attributes ?? {} }));
            ingestInternal(events).catch((err) => logger.error({ err }, 'sandbox events could not be stored'));
          },
        })
      : undefined;

  // --- alerts: incidents, outbox, notifiers ----------------------------------------------------
  const alerts: AlertManager = createAlertManager(config.alerts, {
    store: new SqliteAlertStore(db),
    clock,
    logger: logger.child({ component: 'alerts' }),
    onDelivery: (r) => sink.notification({ notifier: r.notifier, kind: r.action, outcome: r.outcome, deliveryMs: r.latencyMs, at: clock.now() }),
  });
  let alertChain: Promise<void> = Promise.resolve();

  // --- probes ------------------------------------------------------------------------------------
  const drivers = createDrivers(config.probes.drivers, { sandbox, logger: logger.child({ component: 'probes' }) });
  const probes = new ProbeManager({
    store: new SqliteProbeStore(db),
    drivers,
    globalBudget: config.probes.budget,
    clock,
    logger: logger.child({ component: 'probes' }),
    checks: Object.fromEntries(config.checks.filter((c) => c.probe).map((c) => [c.name, c.probe!])),
    onResult: (probeId, report) => {
      if (!runtime.has(report.check)) return;
      if (report.result !== 'accepted') {
        const c = checkConfigs.get(report.check)?.probe;
        sink.probe({ check: report.check, probeId, result: 'failed', costMinor: 0, currency: c?.currency ?? 'gbp', at: clock.now() });
      }
      runtime
        .input(report.check, { kind: 'probe-result', probeId, result: report.result, reference: report.reference, message: report.message ?? report.code })
        .catch((err) => logger.error({ err, check: report.check, probe_id: probeId }, 'probe result could not be applied'));
    },
  });
  const scheduler = new ProbeScheduler({
    logger: logger.child({ component: 'probe-schedule' }),
    onFire: (check) => {
      runtime.requestProbe(check, 'schedule').catch((err) => logger.error({ err, check }, 'scheduled probe failed'));
    },
  });

  const checkRef = (spec: CheckSpec) => ({ name: spec.name, stream: spec.stream, labels: spec.labels });
  const reportState = (spec: CheckSpec, at: number) => {
    const snap = runtime.snapshot(spec.name);
    if (!snap) return;
    const lim = snap.limits;
    sink.checkState(checkRef(spec), snap.status, snap.lastEventAt === null ? null : Math.max(0, (at - snap.lastEventAt) / 1000), at, {
      quietAfterMs: lim.quietAfterMs,
      pageAfterMs: lim.pageAfterMs,
      ...(lim.expectedPerMinute !== undefined ? { eventsPerMinute: lim.expectedPerMinute } : {}),
    });
  };
  const onEffect = (effect: Effect, spec: CheckSpec) => {
    if (effect.type === 'flip') {
      sink.flip(checkRef(spec), effect.from, effect.to, effect.at, effect.reason);
      reportState(spec, clock.now());
      return;
    }
    // Only the event that settles the probe in flight counts (latencyMs -1: a late or duplicate copy).
    if ((effect.type === 'probe-proven' && effect.latencyMs >= 0) || (effect.type === 'probe-lost' && effect.accepted && effect.why === 'deadline')) {
      const c = checkConfigs.get(spec.name)?.probe;
      sink.probe({
        check: spec.name,
        probeId: effect.probeId,
        result: effect.type === 'probe-proven' ? 'proven' : 'lost',
        ...(effect.type === 'probe-proven' && effect.latencyMs >= 0 ? { latencyMs: effect.latencyMs } : {}),
        costMinor: c?.amount ?? 0,
        currency: c?.currency ?? 'gbp',
        at: effect.at,
      });
    }
    if (effect.type === 'fire-probe') {
      const c = checkConfigs.get(spec.name);
      if (!c?.probe) return;
      return void probes.fire({ check: spec.name, probeId: effect.probeId, reason: effect.reason, deadline: effect.deadline, options: c.probe, stream: spec.stream });
    }
    if (effect.type === 'probe-proven') return void probes.proven(effect.probeId, effect.at);
    // Settle the record whatever the reason (deadline, pause, restart): an accepted charge is
    // reversed, and a charge still being answered is reversed once the acquirer accepts it.
    if (effect.type === 'probe-lost') return void probes.lost(effect.probeId, effect.at);
    if (effect.type === 'alert') {
      const log = logger.child({ check: spec.name });
      const msg = `${effect.kind === 'down' ? 'PAGE' : effect.kind === 'recovered' ? 'RESOLVED' : 'WARNING'} ${spec.name}: ${effect.reason}`;
      if (effect.kind === 'down') log.error({ alert: effect.kind, at: new Date(effect.at).toISOString(), details: effect.details }, msg);
      else log.warn({ alert: effect.kind, warning: effect.warning, at: new Date(effect.at).toISOString() }, msg);
      const c = checkConfigs.get(spec.name);
      const details = {
        ...effect.details,
        ...(c?.runbook ? { runbookUrl: c.runbook } : {}),
        ...(c?.dashboard ? { dashboardUrl: c.dashboard } : {}),
      };
      // Keep the order of one check's alerts (down before recovered) across async deliveries.
      alertChain = alertChain
        .then(async () => {
          if (effect.kind === 'down') await alerts.checkDown({ check: spec.name, labels: spec.labels, at: effect.at, reason: effect.reason, details });
          else if (effect.kind === 'recovered') await alerts.checkRecovered({ check: spec.name, at: effect.at, reason: effect.reason, details });
          else await alerts.warning({ check: spec.name, labels: spec.labels, at: effect.at, kind: effect.warning ?? 'quiet', summary: effect.reason, details });
        })
        .catch((err) => log.error({ err }, 'alert could not be queued'));
    }
  };
  runtime = new CheckRuntime({ checks, store, clock, logger, onEffect, isSynthetic });

  const plugins: ApiPlugin[] = [
    alertApiPlugin(alerts, { checkExists: (name) => runtime.has(name) }) as ApiPlugin,
    boardPlugin({ runtime, clock, logger, incidents: () => alerts.listIncidents({ open: true }) }),
    {
      register(app, { requireScope }) {
        app.get<{ Querystring: { check?: string; limit?: string } }>('/v1/probes', { preHandler: requireScope('read') }, async (req, reply) => {
          const { check } = req.query;
          if (check !== undefined && !runtime.has(check)) return reply.code(400).send(errorBody('bad_request', `no check named ${JSON.stringify(check)}`, { field: 'check' }));
          const limit = Math.min(500, Math.max(1, Number(req.query.limit ?? 50) || 50));
          return { probes: await probes.list({ check, limit }), budget: await probes.budgetStatus(check) };
        });
        app.post<{ Params: { name: string } }>('/v1/checks/:name/probe', { preHandler: requireScope('admin') }, async (req, reply) => {
          const name = req.params.name;
          if (!runtime.has(name)) return reply.code(404).send(errorBody('not_found', `no check named ${JSON.stringify(name)}`, { field: 'name' }));
          if (!checkConfigs.get(name)?.probe) return reply.code(400).send(errorBody('bad_request', `check ${name} has no probe configured`, { field: 'probe' }));
          const before = runtime.state(name)?.probe?.id;
          if (before) return reply.code(409).send(errorBody('conflict', `a probe of ${name} is already in flight (${before}); never two at once`, { probe: before }));
          if (runtime.state(name)?.status === 'paused') return reply.code(409).send(errorBody('conflict', `check ${name} is paused`));
          const st = await runtime.requestProbe(name, 'manual');
          return reply.code(202).send({ probe: st.probe });
        });
      },
      openApiPaths: {
        '/v1/probes': {
          get: {
            summary: 'Stored probes, newest first, with budget use (read)',
            parameters: [
              { name: 'check', in: 'query', schema: { type: 'string' } },
              { name: 'limit', in: 'query', schema: { type: 'integer', default: 50 } },
            ],
            responses: { '200': { description: 'probes and budget' }, '400': { description: 'Unknown check' } },
          },
        },
        '/v1/checks/{name}/probe': {
          post: {
            summary: 'Fire one probe by hand (admin); 409 when one is in flight',
            parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
            responses: { '202': { description: 'Fired' }, '400': { description: 'No probe configured' }, '404': { description: 'No such check' }, '409': { description: 'A probe is in flight, or the check is paused' } },
          },
        },
      },
    },
  ];
  if (sandbox) {
    plugins.push({
      register: (app, { requireScope }) => registerSandboxRoutes(app, { sandbox, requireScope: (s) => requireScope(s) }),
      openApiPaths: sandboxOpenApiPaths,
    });
  }
  const checkDetails = async (name: string) => {
    const incident = (await alerts.listIncidents({ open: true, check: name, limit: 1 }))[0] ?? null;
    if (!checkConfigs.get(name)?.probe) return { incident };
    return { incident, probes: await probes.list({ check: name, limit: 10 }), probeBudget: await probes.budgetStatus(name) };
  };
  const components = async (): Promise<Record<string, ComponentHealth>> => {
    const h = await alerts.health();
    // A notifier failing permanently (bad key, revoked token) is reported as degraded, not unready:
    // taking the service out of rotation would stop ingest, and then nothing could page at all.
    return { alerts: { ok: true, ...(h.ok ? {} : { degraded: true }), detail: h }, metrics: metrics.readiness() };
  };

  // --- InfluxDB-fed checks: the newest point's time is the last event ------------------------------
  // Learned limits and rate-drop of such a check learn from the points counted per polled interval
  // (onCounts), not from the newest point: one poll may cover hundreds of points.
  const fed = config.checks.filter((c) => c.source).map((c) => ({ name: c.name, source: c.source! }));
  const influxSource =
    fed.length > 0
      ? new InfluxSource(
          fed,
          (check, t) => {
            runtime.input(check, { kind: 'event', at: t, time: t }).catch((err) => logger.error({ err, check }, 'could not apply an InfluxDB point'));
          },
          { clock, logger: logger.child({ component: 'influx-source' }), onCounts: (check, from, to, n) => feedCounts(checkConfigs.get(check)!, from, to, n) },
        )
      : undefined;
  let stateTimer: NodeJS.Timeout | undefined;
  let started = false;
  let pruneTimer: NodeJS.Timeout | undefined;
  let learnTimer: NodeJS.Timeout | undefined;
  /**
   * Rate-drop: at the end of each window, compare the count of real events with the learned normal.
   * Pushed checks: one timer for all (evaluateWindows). InfluxDB-fed checks: when the counted
   * interval passes the window's end (feedCounts), so a window is judged only once it is counted.
   */
  const rateDropChecks = config.checks.filter((c) => c.learn?.rateDrop && learned.has(c.name) && !c.source);
  const judgeWindow = (c: CheckConfig, start: number, end: number, count: number) => {
    const rd = c.learn!.rateDrop!;
    const r = evaluateRateDrop(learned.get(c.name)!.model, start, end, count, { minDrop: rd.minDrop, falseAlarmsPerMs: rd.falseAlarms });
    if (!r.learned) return;
    const prev = runtime.state(c.name)?.rateLow ?? false;
    if (r.verdict === 'drop' || prev) {
      runtime
        .input(c.name, { kind: 'rate', verdict: r.verdict, reason: r.reason })
        .catch((err) => logger.error({ err, check: c.name }, 'rate-drop verdict could not be applied'));
    }
  };
  /** When this run started watching: windows that ended before (a fed check's catch-up) are history, learned but not judged. */
  let watchingSince = Infinity;
  const judgeClosed = (c: CheckConfig) => {
    const closed = closedWindows.get(c.name);
    if (!closed?.length) return;
    closedWindows.delete(c.name);
    for (const w of closed) if (w.end > watchingSince) judgeWindow(c, w.start, w.end, w.count);
  };
  /** Pushed checks: windows that ended by now (an empty one too) are closed and judged. */
  const evaluateWindows = () => {
    const now = clock.now();
    for (const c of rateDropChecks) {
      rollWindows(c, now);
      judgeClosed(c);
    }
  };
  /**
   * An InfluxDB-fed check's points in [from, to), known as a count: learned as such
   * (observeCount), and shared out over the rate-drop windows the interval covers, in proportion
   * to the time covered (intervals are one poll long, seconds against windows of minutes).
   */
  const feedCounts = (c: CheckConfig, from: number, to: number, n: number) => {
    const limits = learned.get(c.name);
    if (!limits || !(to > from)) return;
    limits.observeCount(from, to, n);
    const rd = c.learn?.rateDrop;
    if (!rd) return;
    for (let t = from; t < to; ) {
      rollWindows(c, t);
      const w = windowCounts.get(c.name)!;
      const end = Math.min(to, w.start > t ? w.start : w.start + rd.window);
      if (t >= w.start) w.count += (n * (end - t)) / (to - from);
      t = end;
    }
    rollWindows(c, to);
    judgeClosed(c);
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
    checkDetails,
    listDetails: async () => {
      const open = await alerts.listIncidents({ open: true, limit: 1_000_000 });
      return new Map(open.map((i) => [i.check, { incident: i }]));
    },
    ...(metrics.scrape ? { metrics: metrics.scrape } : {}),
    onAccepted: (events) => {
      for (const f of onAccepted) f(events);
    },
  });

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
    async listen() {
      started = true;
      watchingSince = clock.now();
      await alerts.start();
      // Probes whose charge was never answered before a restart: finish the charge with the same
      // probe id and idempotency key (the acquirer answers the first result, no second charge), so a
      // charge that went through is known and reversed. The engine no longer waits for them: the
      // restart below settles each one (probe-lost, why: restart).
      for (const rec of await probes.recoverInterrupted()) {
        const c = checkConfigs.get(rec.check);
        if (c?.probe) {
          void probes.fire({ check: rec.check, probeId: rec.id, reason: rec.reason, deadline: rec.deadline, options: c.probe, stream: runtime.spec(rec.check)?.stream });
        }
      }
      await runtime.start();
      // Flips and incidents are written in two steps: a crash between them must not lose a page or
      // leave an incident open. Reconcile: a down check has an open incident, and only a down one.
      const open = await alerts.listIncidents({ open: true, limit: 1_000_000 });
      const openChecks = new Set(open.map((i) => i.check));
      for (const name of runtime.names()) {
        const st = runtime.state(name)!;
        const spec = runtime.spec(name)!;
        if (st.status === 'down' && !openChecks.has(name)) {
          const reason = `down since ${new Date(st.since).toISOString()} (page restored after a restart)`;
          await alerts.checkDown({ check: name, labels: spec.labels, at: st.since, reason, details: { state: 'down', lastEventAt: st.lastEventAt, silenceMs: clock.now() - st.watchFrom } });
        } else if (st.status !== 'down' && openChecks.has(name)) {
          await alerts.checkRecovered({ check: name, at: st.since, reason: `${st.status} since ${new Date(st.since).toISOString()}` });
        }
      }
      for (const c of config.checks) if (c.probe?.schedule) scheduler.add(c.name, c.probe.schedule);
      sandbox?.start();
      // InfluxDB-fed checks with learned limits start from the measurement's own history. Polling
      // starts once the history is in (a newer observed point would make the model skip it); a
      // failing InfluxDB delays nothing else.
      // Then the model learns from the points counted per poll, from where the history ended.
      const seeding = fed.map(async (f) => {
        const limits = learned.get(f.name);
        if (!limits || !influxSource) return;
        const bucketMs = 300_000;
        // A model restored from the store counts on from where it stopped (the first poll counts
        // the service's downtime per minute, so it is learned as what InfluxDB saw, not as silence).
        const lastAt = limits.model.toJSON().lastAt;
        if (limits.learned() && lastAt !== null) {
          // Beyond 28 days back (or the measurement's retention) nothing is counted: not learned as silence either.
          const from = Math.max(lastAt, clock.now() - 28 * 86_400_000);
          limits.model.skipTo(lastAt, from);
          influxSource.countFrom(f.name, from);
          return;
        }
        // A new one is seeded with whole 5-minute buckets of history; the polls count on from there.
        const until = Math.floor((clock.now() - f.source.countDelay) / bucketMs) * bucketMs;
        try {
          const all = await influxSource.seedHistory(f.name, until - 28 * 86_400_000, { bucketMs, until });
          // Empty buckets before the first point are time before the measurement existed, not silence.
          const first = all.findIndex((b) => b.count > 0);
          const buckets = first < 0 ? [] : all.slice(first);
          limits.seed(buckets.map((b) => ({ start: b.start, count: b.count, bucketMs })));
          logger.info({ check: f.name, buckets: buckets.length, learned: limits.learned() }, 'learned limits seeded from InfluxDB history');
        } catch (err) {
          logger.warn({ err, check: f.name }, 'could not seed learned limits from InfluxDB history');
        }
        influxSource.countFrom(f.name, until);
      });
      void Promise.all(seeding).then(() => {
        if (started) influxSource?.start();
      });
      // Each check's state and seconds since its last event, every few seconds: a live counter on screens.
      const everyMs = config.metrics.stateInterval;
      const reportHealth = async () => {
        const now = clock.now();
        const open = await alerts.listIncidents({ open: true, limit: 1_000_000 });
        sink.incidents(open.length, now);
        const storeOk = await store.ping().then(
          () => true,
          () => false,
        );
        sink.health({ component: 'quietwatch', ok: true, at: now });
        sink.health({ component: 'store', ok: storeOk, at: now });
        sink.health({ component: 'alerts', ok: (await alerts.health()).ok, at: now });
        sink.health({ component: 'metrics', ok: !metrics.readiness().degraded, at: now });
      };
      const reportAll = () => {
        const now = clock.now();
        for (const name of runtime.names()) reportState(runtime.spec(name)!, now);
        reportHealth().catch((err) => logger.warn({ err }, 'could not report health metrics'));
      };
      reportAll();
      stateTimer = setInterval(reportAll, everyMs);
      stateTimer.unref();
      // Keep the store small: flips older than 90 days go, hourly.
      pruneTimer = setInterval(() => {
        store.pruneFlips(clock.now() - 90 * 86_400_000).catch((err) => logger.error({ err }, 'could not prune old flips'));
      }, 3_600_000);
      pruneTimer.unref();
      let ticks = 0;
      learnTimer = setInterval(() => {
        evaluateWindows();
        // Learned models are saved every minute (and on shutdown): a restart keeps what was learned.
        if (++ticks % 6 === 0) saveModels().catch((err) => logger.error({ err }, 'could not save learned models'));
      }, 10_000);
      learnTimer.unref();
      evaluateWindows();
      const address = await app.listen({ host: config.server.host, port: config.server.port });
      if (auth.open) logger.warn({ address }, `no API tokens configured: the API is open and listens on loopback only (${address})`);
      logger.info({ address, checks: runtime.names().length }, `quietwatch listening on ${address}`);
      return address;
    },
    async close() {
      started = false;
      if (stateTimer) clearInterval(stateTimer);
      if (pruneTimer) clearInterval(pruneTimer);
      if (learnTimer) clearInterval(learnTimer);
      await saveModels().catch((err) => logger.error({ err }, 'could not save learned models'));
      influxSource?.stop();
      sandbox?.stop();
      scheduler.stop();
      runtime.stop();
      await probes.stop();
      await alertChain;
      await alerts.stop();
      await app.close();
      await runtime.flushed();
      await metrics.close();
      await store.close();
    },
  };
}
