/**
 * The HTTP API (Fastify). Every error is JSON `{error, message, field?, problems?}`; nothing a
 * client sends can crash the process. Routes of other modules (alerts, probes, sandbox, board)
 * plug in through `plugins`.
 */
import type { Socket } from 'node:net';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest, type preHandlerHookHandler } from 'fastify';
import type { CheckRuntime, IngestEvent } from '../checks/runtime.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { Store } from '../store/types.ts';
import type { Scope } from '../config/schema.ts';
import { IngestError, jsonTooDeep, MAX_JSON_DEPTH, parseEvents, streamProblem, validateEvent } from '../ingest/parse.ts';
import { redactUrl } from '../lib/logger.ts';
import { Auth, lingeringClose, principalOf } from './auth.ts';
import { guardNoTokenMode } from './guard.ts';
import { buildOpenApi } from './openapi.ts';

export type RequireScope = (scope: Scope, opts?: { allowQueryToken?: boolean; publicRead?: boolean }) => preHandlerHookHandler;

export interface ComponentHealth {
  ok: boolean;
  /** Degraded components do not fail readiness but are reported. */
  degraded?: boolean;
  detail?: unknown;
}

export interface ApiPlugin {
  register(app: FastifyInstance, deps: { requireScope: RequireScope }): void | Promise<void>;
  openApiPaths?: Record<string, unknown>;
}

export interface ServerDeps {
  runtime: CheckRuntime;
  store: Store;
  auth: Auth;
  clock: Clock;
  logger: Logger;
  bodyLimit: number;
  /** Everything readiness looks at besides the store and the runtime. */
  components?: () => Promise<Record<string, ComponentHealth>>;
  /** Extra fields for GET /v1/checks/{name} (probes, incidents). */
  checkDetails?: (name: string) => Promise<Record<string, unknown>>;
  /** Extra fields per check for GET /v1/checks (the open incident), by check name. */
  listDetails?: () => Promise<Map<string, Record<string, unknown>>>;
  /** The one ingest path (src/ingest/): stores the batch, resolves once committed. Default: the runtime alone. */
  ingest?: (events: readonly IngestEvent[]) => Promise<unknown>;
  /** Called with each accepted batch after it is stored (only with the default ingest). */
  onAccepted?: (events: readonly IngestEvent[]) => void;
  metrics?: () => Promise<{ contentType: string; body: string }>;
  plugins?: ApiPlugin[];
  /** Event times further than this from arrival are refused (config `ingest.maxClockSkew`; default 1 day). */
  maxClockSkewMs?: number;
  /** A request (headers and body) must arrive within this (config `server.requestTimeout`; default 30 s): slow drippers are closed. */
  requestTimeoutMs?: number;
  /** Bytes of request bodies being received at once, over every connection (default 8 x bodyLimit); beyond: 503. */
  maxInflightBodyBytes?: number;
  /** Host names accepted in no-token mode besides loopback names and the listen address (e.g. server.publicUrl's). */
  allowedHosts?: readonly string[];
}

export function errorBody(error: string, message: string, extra: Record<string, unknown> = {}) {
  return { error, message, ...extra };
}

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const { runtime, store, auth, clock } = deps;
  const requestTimeout = deps.requestTimeoutMs ?? 30_000;
  const parseOpts = deps.maxClockSkewMs !== undefined ? { maxClockSkewMs: deps.maxClockSkewMs } : {};
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'http' }) as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimit,
    // Clients get JSON errors; see the error handler below.
    return503OnClosing: true,
    // Close idle keep-alive and never-used sockets on shutdown (browsers and fetch preconnect them).
    forceCloseConnections: true,
    // Check names may be up to 128 characters and streams 200 (Fastify's default is 100).
    routerOptions: { maxParamLength: 256 },
    // Slow drippers: the whole request must arrive in time (checked every second), headers sooner.
    requestTimeout,
    http: { headersTimeout: Math.min(requestTimeout, 10_000), connectionsCheckingInterval: Math.min(1_000, requestTimeout) },
    clientErrorHandler: (err: Error & { code?: string }, socket: Socket) => {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      const [status, text, body] =
        err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'Request Timeout', errorBody('request_timeout', `the request did not arrive within ${requestTimeout} ms; the connection is closed`)]
          : err.code === 'HPE_HEADER_OVERFLOW'
            ? [431, 'Request Header Fields Too Large', errorBody('headers_too_large', 'the request headers are too large')]
            : [400, 'Bad Request', errorBody('bad_request', 'malformed HTTP request')];
      const json = JSON.stringify(body);
      if (socket.writable) {
        socket.write(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`);
      }
      socket.destroy();
    },
  });
  // A client that half-closes after its request (HTTP/1.0 tools, `nc`) still gets the answer: by
  // default Node ends such a socket at once, and a route that awaits a store that really is asynchronous
  // (PostgreSQL) answered into a closed socket — no response at all.
  (app.server as typeof app.server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;

  // Auth runs on the headers, before any body is read: a request without a valid token is
  // answered 401 and its body never buffered. Routes say `preHandler: requireScope(...)` (modules
  // plug in that way); every such hook is moved to onRequest here.
  const authHooks = new WeakSet<object>();
  const requireScope: RequireScope = (scope, opts) => {
    const hook = auth.require(scope, opts);
    authHooks.add(hook);
    return hook;
  };
  app.addHook('onRoute', (route) => {
    const pre = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler];
    const moved = pre.filter((h) => authHooks.has(h));
    if (moved.length === 0) return;
    const on = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.preHandler = pre.filter((h) => !authHooks.has(h));
    route.onRequest = [...on, ...moved] as typeof route.onRequest;
  });

  // Repeated query parameters (`?check=a&check=b`): no route takes a list, so say so.
  app.addHook('onRequest', (req, reply, done) => {
    const q = req.query as Record<string, unknown> | undefined;
    if (q) {
      for (const [k, v] of Object.entries(q)) {
        if (Array.isArray(v)) {
          void reply.code(400).send(errorBody('bad_request', `query parameter "${k}" is given ${v.length} times; give it once`, { field: k }));
          return;
        }
      }
    }
    done();
  });
  // No-token mode: the API is open on loopback, so refuse what a web page could send it (see guard.ts).
  if (auth.open) app.addHook('onRequest', guardNoTokenMode({ allowedHosts: deps.allowedHosts ?? [] }));

  // In-flight body bytes over every connection are capped: what a body may still cost (its
  // Content-Length, or the body limit when chunked) is reserved before it is read.
  const maxInflight = deps.maxInflightBodyBytes ?? 8 * deps.bodyLimit;
  let inflight = 0;
  app.addHook('preParsing', (req, reply, payload, done) => {
    const cl = req.headers['content-length'];
    const chunked = req.headers['transfer-encoding'] !== undefined;
    if (cl === undefined && !chunked) return done(null, payload);
    const declared = cl === undefined ? deps.bodyLimit : Number(cl);
    const cost = Number.isFinite(declared) ? Math.min(Math.max(declared, 0), deps.bodyLimit) : deps.bodyLimit;
    if (cost === 0) return done(null, payload);
    if (inflight + cost > maxInflight) {
      lingeringClose(req, reply);
      void reply
        .code(503)
        .header('retry-after', '1')
        .send(errorBody('busy', `too many request bodies are being received (${maxInflight} bytes in flight at most); retry`));
      return;
    }
    inflight += cost;
    reply.raw.once('close', () => {
      inflight -= cost;
    });
    done(null, payload);
  });

  // JSON bodies of other modules' routes (silences, acks, sandbox): no deep nesting either.
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (jsonTooDeep(body as string)) {
      const err = Object.assign(new Error(`the body: JSON nested deeper than ${MAX_JSON_DEPTH} levels`), { statusCode: 400 });
      return done(err, undefined);
    }
    defaultJson(req, body as string, done);
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validation?: unknown }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status === 413) return reply.code(413).send(errorBody('payload_too_large', `the body is larger than ${deps.bodyLimit} bytes; send smaller batches`));
    if (status === 415) return reply.code(415).send(errorBody('unsupported_media_type', err.message));
    // PostgreSQL replicas: a write that only the leader may make reached a follower (see /readyz)
    if (err.code === 'LEASE_LOST') return reply.code(503).send(errorBody('not_leader', `${err.message}; send it to the leader (GET /readyz names each replica's role)`));
    if (status >= 500) {
      req.log.error({ err, method: req.method, url: redactUrl(req.url) }, 'request failed');
      return reply.code(status).send(errorBody('internal', 'the request failed; see the server log'));
    }
    const field = err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'body' : undefined;
    return reply.code(status).send(errorBody('bad_request', err.message, field ? { field } : {}));
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send(errorBody('not_found', `no route ${req.method} ${req.url.split('?')[0]!.slice(0, 300)}`)));

  // --- health --------------------------------------------------------------------------------
  app.get('/healthz', async () => ({ status: 'ok' }));
  // /readyz needs no token (load balancers ask it), so without a read token it says only
  // ready/degraded and which components: receiver error text, dedup keys and summaries are details.
  const mayRead = (req: FastifyRequest): boolean => {
    if (auth.open) return true;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(String(req.headers.authorization ?? ''));
    const p = m ? auth.identify(m[1]) : undefined;
    return p !== undefined && Auth.allows(p, 'read');
  };
  app.get('/readyz', async (req, reply) => {
    const components: Record<string, ComponentHealth> = {};
    try {
      await store.ping();
      components.store = { ok: true };
    } catch (err) {
      components.store = { ok: false, detail: (err as Error).message };
    }
    Object.assign(components, (await deps.components?.()) ?? {});
    const ready = Object.values(components).every((c) => c.ok);
    const degraded = Object.entries(components)
      .filter(([, c]) => c.degraded)
      .map(([k]) => k);
    const status = ready ? (degraded.length ? 'degraded' : 'ready') : 'not_ready';
    if (!mayRead(req)) {
      const names = Object.fromEntries(Object.entries(components).map(([k, c]) => [k, { ok: c.ok, ...(c.degraded ? { degraded: true } : {}) }]));
      return reply.code(ready ? 200 : 503).send({ status, degraded, components: names });
    }
    return reply.code(ready ? 200 : 503).send({ status, degraded, components });
  });

  // --- OpenAPI -------------------------------------------------------------------------------
  const extraPaths = Object.assign({}, ...(deps.plugins ?? []).map((p) => p.openApiPaths ?? {}));
  const openapi = buildOpenApi(extraPaths);
  app.get('/openapi.json', async () => openapi);

  // --- metrics -------------------------------------------------------------------------------
  if (deps.metrics) {
    const metrics = deps.metrics;
    app.get('/metrics', { preHandler: requireScope('read') }, async (_req, reply) => {
      const m = await metrics();
      return reply.type(m.contentType).send(m.body);
    });
  }

  // --- ingest --------------------------------------------------------------------------------
  const accept = async (events: IngestEvent[], reply: FastifyReply) => {
    try {
      if (deps.ingest) await deps.ingest(events);
      else {
        await runtime.ingest(events);
        deps.onAccepted?.(events);
      }
    } catch (err) {
      deps.logger.error({ err }, 'could not store an ingest batch');
      // the reason a client (or on-call) can act on: STORE_UNAVAILABLE when PostgreSQL is down
      const code = (err as { code?: unknown })?.code;
      const reason = typeof code === 'string' && /^(STORE_|LEASE_)/.test(code) ? { reason: code, detail: (err as Error).message } : {};
      return reply.code(503).send(errorBody('unavailable', 'the batch could not be stored; nothing was accepted, retry', reason));
    }
    return reply.code(202).send({ accepted: events.length });
  };

  await app.register(async (sub) => {
    // Bodies are parsed here, not by Fastify, so errors can name the NDJSON line.
    sub.removeAllContentTypeParsers();
    sub.addContentTypeParser('*', { parseAs: 'string', bodyLimit: deps.bodyLimit }, (_req, body, done) => done(null, body));

    sub.post('/v1/events', { preHandler: requireScope('ingest') }, async (req, reply) => {
      const ct = String(req.headers['content-type'] ?? '').toLowerCase();
      const kind = ct.includes('ndjson') || ct.includes('jsonl') ? 'ndjson' : ct.includes('json') ? 'json' : 'auto';
      let events: IngestEvent[];
      try {
        events = parseEvents(typeof req.body === 'string' ? req.body : '', clock.now(), kind, parseOpts);
      } catch (err) {
        if (err instanceof IngestError) {
          const first = err.problems[0]!;
          return reply.code(400).send(
            errorBody('invalid_events', err.message, {
              ...(first.field ? { field: first.field } : {}),
              ...(first.line !== undefined ? { line: first.line } : {}),
              ...(first.index !== undefined ? { index: first.index } : {}),
              problems: err.problems,
              accepted: 0,
            }),
          );
        }
        throw err;
      }
      return accept(events, reply);
    });

    sub.post<{ Params: { stream: string }; Querystring: { state?: unknown; run?: unknown } }>('/v1/streams/:stream/ping', { preHandler: requireScope('ingest') }, async (req, reply) => {
      const stream = req.params.stream;
      const body = typeof req.body === 'string' ? req.body.trim() : '';
      // A job's run: ?state=start|success|fail&run=ID (Healthchecks' /start, /fail with a run id).
      const run = parseRunQuery(req.query);
      if ('error' in run) return reply.code(400).send(errorBody('bad_request', run.error, { field: run.field }));
      let extra: Record<string, unknown> = {};
      if (run.state === 'fail') {
        const sp = streamProblem(stream);
        if (sp) return reply.code(400).send(errorBody('invalid_event', `stream ${sp}`, { field: 'stream' }));
        // The body of a failure is its reason: text (a job's last output lines) or {reason}.
        let reason = body;
        try {
          const j = body.startsWith('{') && !jsonTooDeep(body) ? (JSON.parse(body) as Record<string, unknown>) : undefined;
          if (j && typeof j.reason === 'string') reason = j.reason;
        } catch {
          /* text */
        }
        const events: IngestEvent[] = [{ stream, arrivedAt: clock.now(), time: clock.now(), attributes: {}, run: { state: 'fail', ...(run.id ? { id: run.id } : {}), ...(reason ? { reason: reason.slice(0, MAX_FAIL_REASON) } : {}) } }];
        return accept(events, reply);
      }
      if (body) {
        try {
          if (jsonTooDeep(body)) throw new Error(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
          const parsed = JSON.parse(body) as unknown;
          if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('must be a JSON object');
          extra = parsed as Record<string, unknown>;
        } catch (err) {
          return reply.code(400).send(errorBody('bad_request', `the body, when present, must be a JSON object {time?, id?, attributes?}: ${(err as Error).message}`, { field: 'body' }));
        }
      }
      let events: IngestEvent[];
      try {
        // Validated as parsed (not re-serialised: JSON turns 1e400 into null, and a missing time into arrival).
        events = [validateEvent({ ...extra, stream }, clock.now(), parseOpts)];
        if (run.state) events[0]!.run = { state: run.state, ...(run.id ? { id: run.id } : {}) };
      } catch (err) {
        if (err instanceof IngestError) {
          return reply.code(400).send(errorBody('invalid_event', err.message, { field: err.problems[0]?.field, problems: err.problems }));
        }
        throw err;
      }
      return accept(events, reply);
    });
  });

  // --- checks --------------------------------------------------------------------------------
  app.get('/v1/checks', { preHandler: requireScope('read') }, async () => {
    const extra = (await deps.listDetails?.()) ?? new Map<string, Record<string, unknown>>();
    return { checks: runtime.snapshots().map((c) => ({ ...c, ...extra.get(c.name) })) };
  });

  app.get<{ Params: { name: string }; Querystring: { flips?: string } }>('/v1/checks/:name', { preHandler: requireScope('read') }, async (req, reply) => {
    const snap = runtime.snapshot(req.params.name);
    if (!snap) return reply.code(404).send(errorBody('not_found', `no check named ${JSON.stringify(req.params.name)}`, { field: 'name' }));
    const limit = Math.min(500, Math.max(1, Number(req.query.flips ?? 50) || 50));
    // The snapshot is the state in memory; its flips are read from the store once every commit
    // accepted so far is there (the writer thread commits a few ms after the state changed).
    await runtime.flushed();
    const flips = await store.listFlips(snap.name, limit);
    const extra = (await deps.checkDetails?.(snap.name)) ?? {};
    return { ...snap, flips, ...extra };
  });

  const pauseResume = (action: 'pause' | 'resume') => async (req: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply) => {
    if (!runtime.has(req.params.name)) return reply.code(404).send(errorBody('not_found', `no check named ${JSON.stringify(req.params.name)}`, { field: 'name' }));
    const by = principalOf(req) ?? 'local';
    await (action === 'pause' ? runtime.pause(req.params.name, by) : runtime.resume(req.params.name, by));
    return runtime.snapshot(req.params.name);
  };
  app.post<{ Params: { name: string } }>('/v1/checks/:name/pause', { preHandler: requireScope('admin') }, pauseResume('pause'));
  app.post<{ Params: { name: string } }>('/v1/checks/:name/resume', { preHandler: requireScope('admin') }, pauseResume('resume'));

  for (const p of deps.plugins ?? []) await p.register(app, { requireScope });
  return app;
}

const MAX_FAIL_REASON = 1_000;
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

/** `?state=start|success|fail&run=ID`, each at most once. */
function parseRunQuery(q: { state?: unknown; run?: unknown }): { state?: 'start' | 'success' | 'fail'; id?: string } | { error: string; field: string } {
  const one = (v: unknown, name: string): string | undefined | { error: string; field: string } => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string') return { error: `${name} must be given once`, field: name };
    return v;
  };
  const state = one(q.state, 'state');
  if (typeof state === 'object') return state;
  const id = one(q.run, 'run');
  if (typeof id === 'object') return id;
  if (state !== undefined && state !== 'start' && state !== 'success' && state !== 'fail') return { error: `state must be start, success or fail (got ${JSON.stringify(state).slice(0, 40)})`, field: 'state' };
  if (id !== undefined && !RUN_ID.test(id)) return { error: 'run must be 1-128 letters, digits and _ . : - (starting with a letter or digit)', field: 'run' };
  return { ...(state ? { state } : {}), ...(id ? { id } : {}) };
}
