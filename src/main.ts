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

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

const asList = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : [String(v)]);

/** Turn a validated check config into the engine's spec (learned limits are attached by the caller). */
export function toSpec(c: CheckConfig): CheckSpec {
  const match: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(c.match)) match[k] = asList(v);
  const quiet = typeof c.quietAfter === 'number' ? c.quietAfter : (c.learn?.min ?? 30_000);
  const page = typeof c.pageAfter === 'number' ? c.pageAfter : (c.learn?.max ?? 600_000);
  const spec: CheckSpec = {
    name: c.name,
    stream: c.stream ?? c.name,
    match,
    quietAfterMs: quiet,
    pageAfterMs: Math.max(page, quiet + 1),
    labels: c.labels,
  };
  if (c.probe) spec.probe = { timeoutMs: c.probe.timeout, backoffFactor: c.probe.backoff.factor, backoffMaxMs: c.probe.backoff.max };
  if (c.flap) spec.flap = { maxFlips: c.flap.maxFlips, windowMs: c.flap.window, stableForMs: c.flap.stableFor };
  return spec;
}

/** How a check recognises its probe's transaction: an attribute (default probe_id) or card token + amount. */
export function correlateFor(c: CheckConfig): Correlate | undefined {
  if (!c.probe) return undefined;
  const corr = c.probe.correlate;
  if ('attribute' in corr) {
    const path = corr.attribute;
    return (attrs) => {
      const v = attributePath(attrs, path);
      return typeof v === 'string' && v.length > 0 ? v : undefined;
    };
  }
  const amount = String(c.probe.amount);
  return (attrs: Record<string, AttrValue>, state) => {
    const tok = attributePath(attrs, corr.cardTokenAttribute);
    const amt = attributePath(attrs, corr.amountAttribute);
    if (tok !== corr.cardToken || String(amt) !== amount) return undefined;
    return state.probe?.id ?? `card:${corr.cardToken}`;
  };
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

  const checks: RuntimeCheck[] = config.checks.map((c) => ({ spec: toSpec(c), correlate: correlateFor(c) }));
  const onEffect = (effect: Effect, spec: CheckSpec) => {
    if (effect.type === 'alert') {
      const log = logger.child({ check: spec.name });
      const msg = `${effect.kind === 'down' ? 'PAGE' : effect.kind === 'recovered' ? 'RESOLVED' : 'WARNING'} ${spec.name}: ${effect.reason}`;
      if (effect.kind === 'down') log.error({ alert: effect.kind, at: new Date(effect.at).toISOString(), details: effect.details }, msg);
      else log.warn({ alert: effect.kind, warning: effect.warning, at: new Date(effect.at).toISOString() }, msg);
    }
  };
  const runtime = new CheckRuntime({ checks, store, clock, logger, onEffect });

  const plugins: ApiPlugin[] = [];
  const components = async (): Promise<Record<string, ComponentHealth>> => ({});
  const app = await buildServer({ runtime, store, auth, clock, logger, bodyLimit: config.server.bodyLimit, components, plugins });

  return {
    config,
    app,
    runtime,
    store,
    logger,
    async listen() {
      await runtime.start();
      const address = await app.listen({ host: config.server.host, port: config.server.port });
      if (auth.open) logger.warn({ address }, `no API tokens configured: the API is open and listens on loopback only (${address})`);
      logger.info({ address, checks: runtime.names().length }, `quietwatch listening on ${address}`);
      return address;
    },
    async close() {
      runtime.stop();
      await app.close();
      await runtime.flushed();
      await store.close();
    },
  };
}
