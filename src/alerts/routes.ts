/**
 * HTTP routes for incidents and silences, as a plain function the API server calls:
 * `registerAlertRoutes(app, { alerts, requireScope })`. OpenAPI path objects are exported as
 * `alertOpenApiPaths` for the served document.
 */
import type { FastifyInstance, FastifyReply, preHandlerHookHandler } from 'fastify';
import { z } from 'zod';
import { parseDuration } from '../lib/duration.ts';
import { AlertInputError, type AlertManager } from './manager.ts';

export interface AlertRouteDeps {
  alerts: AlertManager;
  requireScope: (scope: 'read' | 'admin') => preHandlerHookHandler;
  /** Defaults to the manager's clock; used to turn `for: 2h` into times. */
  now?: () => number;
  /** Whether a check of that name exists: a silence for an unknown check (a typo) is refused. */
  checkExists?: (name: string) => boolean;
}

const MAX_SILENCE_MS = 90 * 86_400_000;

const ackBody = z.object({ by: z.string().min(1).max(200).optional() }).strict();

const silenceBody = z
  .object({
    check: z.string().min(1).max(200).optional(),
    labels: z.record(z.string(), z.string()).optional(),
    for: z.string().optional(),
    startsAt: z.union([z.iso.datetime({ offset: true }), z.number().int()]).optional(),
    endsAt: z.union([z.iso.datetime({ offset: true }), z.number().int()]).optional(),
    reason: z.string().min(1).max(1000),
    createdBy: z.string().min(1).max(200).optional(),
  })
  .strict();

/** The field a zod issue is about (an unknown key names itself). */
function issueField(issue: z.core.$ZodIssue | undefined): string {
  if (!issue) return 'body';
  if (issue.code === 'unrecognized_keys' && issue.keys.length) return issue.keys[0]!;
  return issue.path.length ? String(issue.path[0]) : 'body';
}

/** Errors follow the API's shape: `{error: <code>, message, field}`. */
function badRequest(reply: FastifyReply, message: string, field: string) {
  return reply.code(400).send({ error: 'bad_request', message, field });
}
function notFound(reply: FastifyReply, message: string) {
  return reply.code(404).send({ error: 'not_found', message, field: 'id' });
}

function toMs(v: string | number | undefined): number | undefined {
  if (v === undefined) return undefined;
  return typeof v === 'number' ? v : Date.parse(v);
}

export function registerAlertRoutes(app: FastifyInstance, deps: AlertRouteDeps): void {
  const { alerts, requireScope } = deps;
  const now = deps.now ?? (() => alerts.now());
  const read = { preHandler: requireScope('read') };
  const admin = { preHandler: requireScope('admin') };

  app.get('/v1/incidents', read, async (req, reply) => {
    const q = req.query as { open?: string; check?: string; limit?: string };
    if (q.open !== undefined && q.open !== 'true' && q.open !== 'false') return badRequest(reply, 'open must be true or false', 'open');
    const limit = q.limit === undefined ? 100 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return badRequest(reply, 'limit must be 1..1000', 'limit');
    const incidents = await alerts.listIncidents({ open: q.open === undefined ? undefined : q.open === 'true', check: q.check, limit });
    return { incidents };
  });

  app.get('/v1/incidents/:id', read, async (req, reply) => {
    const { id } = req.params as { id: string };
    const incident = await alerts.getIncident(id);
    if (!incident) return notFound(reply, `no incident ${id}`);
    const deliveries = (await alerts.deliveries(id)).map((r) => ({
      notifier: r.notifier,
      action: r.notification.action,
      status: r.status,
      attempts: r.attempts,
      deliveredAt: r.deliveredAt,
      lastErrorCode: r.lastErrorCode,
      lastError: r.lastError,
    }));
    return { incident, deliveries };
  });

  app.post('/v1/incidents/:id/ack', admin, async (req, reply) => {
    const { id } = req.params as { id: string };
    const parsed = ackBody.safeParse(req.body ?? {});
    if (!parsed.success) return badRequest(reply, parsed.error.issues[0]!.message, issueField(parsed.error.issues[0]));
    try {
      const incident = await alerts.ack(id, parsed.data.by ?? 'api');
      return { incident };
    } catch (err) {
      if (err instanceof AlertInputError && err.code === 'NOT_FOUND') return notFound(reply, err.message);
      throw err;
    }
  });

  app.get('/v1/alerts/health', read, async () => alerts.health());

  app.get('/v1/silences', read, async () => {
    const t = now();
    const silences = (await alerts.listSilences()).map((s) => ({ ...s, active: s.startsAt <= t && t < s.endsAt }));
    return { silences, windows: alerts.listWindows() };
  });

  app.post('/v1/silences', admin, async (req, reply) => {
    const parsed = silenceBody.safeParse(req.body ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return badRequest(reply, issue.message, issueField(issue));
    }
    const b = parsed.data;
    if (b.check === undefined && Object.keys(b.labels ?? {}).length === 0) return badRequest(reply, 'give a check or labels', 'check');
    if (b.check !== undefined && deps.checkExists && !deps.checkExists(b.check)) {
      return badRequest(reply, `no check named ${JSON.stringify(b.check)}: the silence would match nothing`, 'check');
    }
    let startsAt: number;
    let endsAt: number;
    if (b.for !== undefined) {
      if (b.endsAt !== undefined) return badRequest(reply, 'give either for or endsAt, not both', 'for');
      const ms = parseDuration(b.for);
      if (ms === undefined || ms <= 0) return badRequest(reply, `not a duration: ${JSON.stringify(b.for)} (use 30m, 2h)`, 'for');
      startsAt = toMs(b.startsAt) ?? now();
      endsAt = startsAt + ms;
    } else {
      if (b.endsAt === undefined) return badRequest(reply, 'give for (e.g. 2h) or endsAt', 'for');
      startsAt = toMs(b.startsAt) ?? now();
      endsAt = toMs(b.endsAt)!;
    }
    if (!Number.isFinite(startsAt)) return badRequest(reply, 'startsAt is not a time', 'startsAt');
    if (!Number.isFinite(endsAt) || endsAt <= startsAt) return badRequest(reply, 'endsAt must be after startsAt', 'endsAt');
    if (endsAt <= now()) return badRequest(reply, 'the silence would already be over', 'endsAt');
    if (endsAt - startsAt > MAX_SILENCE_MS) return badRequest(reply, 'a silence lasts at most 90 days', b.for !== undefined ? 'for' : 'endsAt');
    const createdBy = b.createdBy ?? ((req as unknown as { user?: { name?: string } }).user?.name ?? 'api');
    try {
      const silence = await alerts.addSilence({
        matchers: { check: b.check, labels: b.labels },
        startsAt,
        endsAt,
        reason: b.reason,
        createdBy,
      });
      return reply.code(201).send({ silence });
    } catch (err) {
      if (err instanceof AlertInputError) return badRequest(reply, err.message, err.field ?? 'body');
      throw err;
    }
  });

  app.delete('/v1/silences/:id', admin, async (req, reply) => {
    const { id } = req.params as { id: string };
    const ok = await alerts.deleteSilence(id);
    if (!ok) return notFound(reply, `no silence ${id}`);
    return reply.code(204).send();
  });
}

/**
 * The same routes in the API server's plugin shape (`{register, openApiPaths}`), so the composition
 * root can pass `alertApiPlugin(alerts)` in `plugins`.
 */
export function alertApiPlugin(
  alerts: AlertManager,
  opts: { checkExists?: (name: string) => boolean } = {},
): {
  register(app: FastifyInstance, deps: { requireScope: AlertRouteDeps['requireScope'] }): void;
  openApiPaths: Record<string, unknown>;
} {
  return {
    register: (app, deps) => registerAlertRoutes(app, { alerts, requireScope: deps.requireScope, checkExists: opts.checkExists }),
    openApiPaths: alertOpenApiPaths,
  };
}

// ------------------------------------------------------------------ OpenAPI

const errorSchema = {
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', description: 'stable code: bad_request, not_found' },
    message: { type: 'string' },
    field: { type: 'string', description: 'the offending field' },
  },
};
const matchersProps = {
  check: { type: 'string', description: 'check name; * is a wildcard' },
  labels: { type: 'object', additionalProperties: { type: 'string' } },
};
const incidentSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    check: { type: 'string' },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    dedupKey: { type: 'string' },
    status: { type: 'string', enum: ['open', 'acknowledged', 'resolved'] },
    severity: { type: 'string', enum: ['critical', 'error', 'warning', 'info'] },
    summary: { type: 'string' },
    reason: { type: 'string' },
    details: { type: 'object' },
    openedAt: { type: 'integer', description: 'epoch ms' },
    releasedAt: { type: 'integer', description: 'when the page went out (later than openedAt if held by a silence)' },
    ackedAt: { type: 'integer' },
    ackedBy: { type: 'string' },
    resolvedAt: { type: 'integer' },
    escalatedAt: { type: 'integer' },
    notifiers: { type: 'array', items: { type: 'string' } },
  },
};
const silenceSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    matchers: { type: 'object', properties: matchersProps },
    startsAt: { type: 'integer' },
    endsAt: { type: 'integer' },
    reason: { type: 'string' },
    createdBy: { type: 'string' },
    createdAt: { type: 'integer' },
    active: { type: 'boolean' },
  },
};
const json = (schema: object) => ({ 'application/json': { schema } });
const idParam = (what: string) => ({ name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: `${what} id` });

export const alertOpenApiPaths = {
  '/v1/incidents': {
    get: {
      summary: 'List incidents, newest first',
      tags: ['alerts'],
      security: [{ bearer: ['read'] }],
      parameters: [
        { name: 'open', in: 'query', schema: { type: 'boolean' }, description: 'only open (true) or resolved (false)' },
        { name: 'check', in: 'query', schema: { type: 'string' } },
        { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
      ],
      responses: {
        '200': { description: 'incidents', content: json({ type: 'object', properties: { incidents: { type: 'array', items: incidentSchema } } }) },
        '400': { description: 'bad query', content: json(errorSchema) },
      },
    },
  },
  '/v1/incidents/{id}': {
    get: {
      summary: 'One incident and its deliveries',
      tags: ['alerts'],
      security: [{ bearer: ['read'] }],
      parameters: [idParam('incident')],
      responses: {
        '200': {
          description: 'the incident',
          content: json({ type: 'object', properties: { incident: incidentSchema, deliveries: { type: 'array', items: { type: 'object' } } } }),
        },
        '404': { description: 'no such incident', content: json(errorSchema) },
      },
    },
  },
  '/v1/incidents/{id}/ack': {
    post: {
      summary: 'Acknowledge an incident everywhere it was paged',
      tags: ['alerts'],
      security: [{ bearer: ['admin'] }],
      parameters: [idParam('incident')],
      requestBody: { required: false, content: json({ type: 'object', properties: { by: { type: 'string' } }, additionalProperties: false }) },
      responses: {
        '200': { description: 'acknowledged (or already acknowledged / resolved)', content: json({ type: 'object', properties: { incident: incidentSchema } }) },
        '400': { description: 'bad body', content: json(errorSchema) },
        '404': { description: 'no such incident', content: json(errorSchema) },
      },
    },
  },
  '/v1/alerts/health': {
    get: {
      summary: 'Delivery health: permanent notifier failures (bad routing key, invalid_auth…) and pages not yet delivered',
      tags: ['alerts'],
      security: [{ bearer: ['read'] }],
      responses: {
        '200': {
          description: 'health',
          content: json({
            type: 'object',
            properties: {
              ok: { type: 'boolean' },
              permanentFailures: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { notifier: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' }, at: { type: 'integer' } },
                },
              },
              pendingPages: { type: 'integer' },
            },
          }),
        },
      },
    },
  },
  '/v1/silences': {
    get: {
      summary: 'Ad hoc silences and configured maintenance windows',
      tags: ['alerts'],
      security: [{ bearer: ['read'] }],
      responses: {
        '200': {
          description: 'silences',
          content: json({ type: 'object', properties: { silences: { type: 'array', items: silenceSchema }, windows: { type: 'array', items: { type: 'object' } } } }),
        },
      },
    },
    post: {
      summary: 'Silence a check (by name or labels) for a while; its pages are held, not lost',
      tags: ['alerts'],
      security: [{ bearer: ['admin'] }],
      requestBody: {
        required: true,
        content: json({
          type: 'object',
          required: ['reason'],
          additionalProperties: false,
          properties: {
            ...matchersProps,
            for: { type: 'string', description: 'duration from startsAt (default now), e.g. 2h' },
            startsAt: { oneOf: [{ type: 'string', format: 'date-time' }, { type: 'integer' }] },
            endsAt: { oneOf: [{ type: 'string', format: 'date-time' }, { type: 'integer' }] },
            reason: { type: 'string' },
            createdBy: { type: 'string' },
          },
        }),
      },
      responses: {
        '201': { description: 'created', content: json({ type: 'object', properties: { silence: silenceSchema } }) },
        '400': { description: 'bad body; `field` names the offending field', content: json(errorSchema) },
      },
    },
  },
  '/v1/silences/{id}': {
    delete: {
      summary: 'End a silence now (held pages of still-open incidents go out)',
      tags: ['alerts'],
      security: [{ bearer: ['admin'] }],
      parameters: [idParam('silence')],
      responses: { '204': { description: 'deleted' }, '404': { description: 'no such silence', content: json(errorSchema) } },
    },
  },
} as const;
