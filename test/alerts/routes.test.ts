import Fastify, { type FastifyInstance, type preHandlerHookHandler } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { AlertManager } from '../../src/alerts/manager.ts';
import { alertOpenApiPaths, registerAlertRoutes } from '../../src/alerts/routes.ts';
import { memoryStore, RecordingNotifier, settle } from './helpers.ts';

const NOW = Date.parse('2026-06-01T10:00:00Z');
let app: FastifyInstance;
let m: AlertManager;
let pd: RecordingNotifier;
let close: () => Promise<void>;

/** A trivial scope check: the `x-scope` header lists granted scopes. */
const requireScope =
  (scope: 'read' | 'admin'): preHandlerHookHandler =>
  async (req, reply) => {
    const granted = String(req.headers['x-scope'] ?? '').split(',');
    if (!granted.includes(scope)) return reply.code(403).send({ error: `needs ${scope}` });
  };
const READ = { 'x-scope': 'read' };
const ADMIN = { 'x-scope': 'read,admin' };

beforeEach(async () => {
  const clock = new ManualClock(NOW);
  pd = new RecordingNotifier('pd', 'pagerduty', clock);
  const { db, store } = memoryStore();
  m = new AlertManager({
    store,
    notifiers: { pd },
    routes: { default: { warning: [], page: ['pd'] }, overrides: [] },
    clock,
    logger: silentLogger(),
    retry: { minDelayMs: 10, maxDelayMs: 10, maxAttempts: 2, deadlineMs: 100 },
  });
  await m.start();
  app = Fastify();
  registerAlertRoutes(app, { alerts: m, requireScope });
  await app.ready();
  close = async () => {
    await app.close();
    await m.stop();
    db.close();
  };
});
afterEach(() => close());

describe('incident routes', () => {
  it('lists incidents, shows one with its deliveries, and acks it (admin only)', async () => {
    const inc = await m.checkDown({ check: 'card-auth', labels: {}, at: NOW, reason: 'no events' });
    await settle();
    const list = await app.inject({ method: 'GET', url: '/v1/incidents?open=true', headers: READ });
    expect(list.statusCode).toBe(200);
    expect(list.json().incidents.map((i: { id: string }) => i.id)).toEqual([inc.id]);

    const one = await app.inject({ method: 'GET', url: `/v1/incidents/${inc.id}`, headers: READ });
    expect(one.json().deliveries).toEqual([expect.objectContaining({ notifier: 'pd', action: 'trigger', status: 'delivered' })]);

    expect((await app.inject({ method: 'POST', url: `/v1/incidents/${inc.id}/ack`, headers: READ, payload: {} })).statusCode).toBe(403);
    const ack = await app.inject({ method: 'POST', url: `/v1/incidents/${inc.id}/ack`, headers: ADMIN, payload: { by: 'ana' } });
    expect(ack.statusCode).toBe(200);
    expect(ack.json().incident).toMatchObject({ status: 'acknowledged', ackedBy: 'ana' });
    await settle();
    expect(pd.actions()).toEqual(['trigger', 'acknowledge']);
  });

  it('answers 404 for unknown incidents and 400 naming the field for bad input', async () => {
    expect((await app.inject({ method: 'GET', url: '/v1/incidents/nope', headers: READ })).statusCode).toBe(404);
    expect((await app.inject({ method: 'POST', url: '/v1/incidents/nope/ack', headers: ADMIN, payload: {} })).statusCode).toBe(404);
    const bad = await app.inject({ method: 'GET', url: '/v1/incidents?open=maybe', headers: READ });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({ error: 'bad_request', message: 'open must be true or false', field: 'open' });
    const badAck = await app.inject({ method: 'POST', url: '/v1/incidents/x/ack', headers: ADMIN, payload: { by: 42 } });
    expect(badAck.statusCode).toBe(400);
    expect(badAck.json().field).toBe('by');
  });
});

describe('health route', () => {
  it('reports permanent failures and pending pages', async () => {
    pd.failures.push('permanent');
    await m.checkDown({ check: 'c', labels: {}, at: NOW, reason: 'x' });
    await settle();
    const r = await app.inject({ method: 'GET', url: '/v1/alerts/health', headers: READ });
    expect(r.json()).toMatchObject({
      ok: false,
      degraded: ['notifier:pd'],
      permanentFailures: [{ notifier: 'pd', code: 'TEST_PERMANENT', message: 'scripted permanent failure', at: NOW }],
      pendingPages: 0,
      store: { ok: true, unsaved: 0 },
    });
  });
});

describe('silence routes', () => {
  it('creates a silence for 2h, lists it, holds pages, and deletes it', async () => {
    const created = await app.inject({ method: 'POST', url: '/v1/silences', headers: ADMIN, payload: { check: 'card-auth', for: '2h', reason: 'acquirer maintenance' } });
    expect(created.statusCode).toBe(201);
    const s = created.json().silence;
    expect(s).toMatchObject({ matchers: { check: 'card-auth' }, startsAt: NOW, endsAt: NOW + 2 * 3_600_000, reason: 'acquirer maintenance', createdBy: 'api' });

    const list = await app.inject({ method: 'GET', url: '/v1/silences', headers: READ });
    expect(list.json().silences).toEqual([{ ...s, active: true }]);

    await m.checkDown({ check: 'card-auth', labels: {}, at: NOW, reason: 'x' });
    await settle();
    expect(pd.sent).toEqual([]);

    expect((await app.inject({ method: 'DELETE', url: `/v1/silences/${s.id}`, headers: READ })).statusCode).toBe(403);
    expect((await app.inject({ method: 'DELETE', url: `/v1/silences/${s.id}`, headers: ADMIN })).statusCode).toBe(204);
    expect((await app.inject({ method: 'DELETE', url: `/v1/silences/${s.id}`, headers: ADMIN })).statusCode).toBe(404);
    await settle();
    expect(pd.actions()).toEqual(['trigger']);
  });

  it('accepts startsAt / endsAt and labels', async () => {
    const r = await app.inject({
      method: 'POST',
      url: '/v1/silences',
      headers: ADMIN,
      payload: { labels: { team: 'payments' }, startsAt: '2026-06-01T11:00:00Z', endsAt: '2026-06-01T12:00:00+00:00', reason: 'window' },
    });
    expect(r.statusCode).toBe(201);
    expect(r.json().silence).toMatchObject({ startsAt: Date.parse('2026-06-01T11:00:00Z'), endsAt: Date.parse('2026-06-01T12:00:00Z') });
  });

  it.each([
    [{ for: '2h' }, 'reason'],
    [{ for: '2h', reason: 'x' }, 'check'],
    [{ check: 'c', for: 'soon', reason: 'x' }, 'for'],
    [{ check: 'c', reason: 'x' }, 'for'],
    [{ check: 'c', for: '2h', endsAt: '2026-06-01T12:00:00Z', reason: 'x' }, 'for'],
    [{ check: 'c', startsAt: 'yesterday', endsAt: '2026-06-01T12:00:00Z', reason: 'x' }, 'startsAt'],
    [{ check: 'c', startsAt: '2026-06-01T12:00:00Z', endsAt: '2026-06-01T11:00:00Z', reason: 'x' }, 'endsAt'],
    [{ check: 'c', startsAt: '2026-05-01T12:00:00Z', endsAt: '2026-05-01T13:00:00Z', reason: 'x' }, 'endsAt'],
    [{ check: 'c', for: '100d', reason: 'x' }, 'for'],
    [{ check: 'c', for: '2h', reason: 'x', color: 'red' }, 'color'],
  ])('400 with the field for %j', async (payload, field) => {
    const r = await app.inject({ method: 'POST', url: '/v1/silences', headers: ADMIN, payload });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toEqual({ error: 'bad_request', message: expect.any(String), field });
  });
});

describe('alertOpenApiPaths', () => {
  it('documents every route with its scope', () => {
    expect(Object.keys(alertOpenApiPaths).sort()).toEqual([
      '/v1/alerts/health',
      '/v1/incidents',
      '/v1/incidents/{id}',
      '/v1/incidents/{id}/ack',
      '/v1/silences',
      '/v1/silences/{id}',
    ]);
    expect(alertOpenApiPaths['/v1/silences'].post.security).toEqual([{ bearer: ['admin'] }]);
    expect(alertOpenApiPaths['/v1/incidents'].get.security).toEqual([{ bearer: ['read'] }]);
  });
});
