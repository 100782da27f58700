/**
 * A local PagerDuty Events API v2 contract server. It validates events the way PagerDuty does
 * (routing_key of 32 characters, event_action, payload.summary <= 1024, payload.source,
 * payload.severity for triggers, dedup_key <= 255), answers 202 / 400 like the real API, and can be
 * scripted to answer 429 with Retry-After, 500, 401 or to hang. It tracks alerts by dedup_key the way
 * PagerDuty does, so tests can count distinct incidents.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type PdScript =
  | { status: 429; retryAfter?: string }
  | { status: 500 | 502 | 503 }
  | { status: 401 | 403 }
  | { hang: true };

export interface PdEvent {
  routing_key: string;
  event_action: 'trigger' | 'acknowledge' | 'resolve';
  dedup_key?: string;
  payload?: { summary: string; source: string; severity: string; [k: string]: unknown };
  links?: { href: string; text?: string }[];
  [k: string]: unknown;
}

export interface PdAlert {
  dedupKey: string;
  status: 'triggered' | 'acknowledged' | 'resolved';
  /** How many times a trigger opened a new alert for this key (1 = never duplicated). */
  opened: number;
  actions: string[];
}

export interface PagerDutyContract {
  /** The events URL (`…/v2/enqueue`). */
  url: string;
  /** Every request body seen (including rejected and scripted ones). */
  requests: unknown[];
  /** Date.now() at each request's arrival. */
  requestTimes: number[];
  /** Accepted events, in order. */
  events: PdEvent[];
  alerts: Map<string, PdAlert>;
  /** Number of distinct incidents opened (over all dedup keys, counting re-opens). */
  incidentsOpened(): number;
  /** Queue one-off answers for the next requests. */
  script(...s: PdScript[]): void;
  /** A persistent failure mode until set back to undefined. */
  setDown(mode: PdScript | undefined): void;
  close(): Promise<void>;
}

const SEVERITIES = ['critical', 'error', 'warning', 'info'];
const ACTIONS = ['trigger', 'acknowledge', 'resolve'];

export function validateEvent(b: unknown, validKeys?: Set<string>): string[] {
  const errors: string[] = [];
  if (typeof b !== 'object' || b === null) return ['Event object is not an object'];
  const e = b as Record<string, unknown>;
  if (typeof e.routing_key !== 'string' || e.routing_key.length !== 32) errors.push("'routing_key' must be a 32 character string");
  else if (validKeys && !validKeys.has(e.routing_key)) errors.push('Invalid routing key');
  if (!ACTIONS.includes(e.event_action as string)) errors.push("'event_action' is invalid (must be one of trigger, acknowledge, resolve)");
  if (e.dedup_key !== undefined && (typeof e.dedup_key !== 'string' || e.dedup_key.length > 255 || e.dedup_key.length === 0))
    errors.push("'dedup_key' must be a string of at most 255 characters");
  if (e.event_action !== 'trigger' && e.dedup_key === undefined) errors.push("'dedup_key' is required for acknowledge and resolve");
  if (e.event_action === 'trigger') {
    const p = e.payload as Record<string, unknown> | undefined;
    if (!p || typeof p !== 'object') errors.push("'payload' is missing or not an object");
    else {
      if (typeof p.summary !== 'string' || p.summary.length === 0) errors.push("'payload.summary' is missing or blank");
      else if (p.summary.length > 1024) errors.push("'payload.summary' must be at most 1024 characters");
      if (typeof p.source !== 'string' || p.source.length === 0) errors.push("'payload.source' is missing or blank");
      if (!SEVERITIES.includes(p.severity as string)) errors.push("'payload.severity' is invalid (must be one of critical, error, warning, info)");
      if (p.timestamp !== undefined && Number.isNaN(Date.parse(String(p.timestamp)))) errors.push("'payload.timestamp' is not a valid timestamp");
      if (p.custom_details !== undefined && (typeof p.custom_details !== 'object' || p.custom_details === null))
        errors.push("'payload.custom_details' must be an object");
    }
    if (e.links !== undefined) {
      if (!Array.isArray(e.links)) errors.push("'links' must be an array");
      else if (e.links.some((l) => typeof (l as { href?: unknown })?.href !== 'string')) errors.push("'links[].href' is required");
    }
  }
  return errors;
}

export async function startPagerDutyContract(opts: { validKeys?: string[]; port?: number } = {}): Promise<PagerDutyContract> {
  const validKeys = opts.validKeys ? new Set(opts.validKeys) : undefined;
  const queue: PdScript[] = [];
  let down: PdScript | undefined;
  const requests: unknown[] = [];
  const requestTimes: number[] = [];
  const events: PdEvent[] = [];
  const alerts = new Map<string, PdAlert>();
  let counter = 0;

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    if (req.method !== 'POST' || !req.url?.startsWith('/v2/enqueue')) return send(res, 404, { status: 'not found' });
    requestTimes.push(Date.now());
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      requests.push(raw);
      return send(res, 400, { status: 'invalid event', message: 'Event object is invalid', errors: ['Invalid JSON'] });
    }
    requests.push(body);
    const s = queue.shift() ?? down;
    if (s) {
      if ('hang' in s) return; // never answer
      if (s.status === 429) return send(res, 429, { status: 'throttle event', message: 'Requests for this service are arriving too quickly.' }, s.retryAfter !== undefined ? { 'retry-after': s.retryAfter } : {});
      if (s.status === 401 || s.status === 403) return send(res, s.status, { status: 'unauthorized', message: 'Unauthorized' });
      return send(res, s.status, { status: 'error', message: 'Internal server error' });
    }
    if ((req.headers['content-type'] ?? '').split(';')[0] !== 'application/json')
      return send(res, 400, { status: 'invalid event', message: 'Event object is invalid', errors: ['Content-Type must be application/json'] });
    const errors = validateEvent(body, validKeys);
    if (errors.length) return send(res, 400, { status: 'invalid event', message: 'Event object is invalid', errors });
    const ev = body as PdEvent;
    const dedup = ev.dedup_key ?? `auto-${++counter}`;
    const a = alerts.get(dedup);
    if (ev.event_action === 'trigger') {
      if (!a) alerts.set(dedup, { dedupKey: dedup, status: 'triggered', opened: 1, actions: ['trigger'] });
      else {
        if (a.status === 'resolved') {
          a.opened++;
          a.status = 'triggered';
        }
        a.actions.push('trigger');
      }
    } else if (a && a.status !== 'resolved') {
      a.actions.push(ev.event_action);
      a.status = ev.event_action === 'resolve' ? 'resolved' : 'acknowledged';
    } else if (a) {
      a.actions.push(`${ev.event_action} (dropped)`);
    }
    events.push({ ...ev, dedup_key: dedup });
    return send(res, 202, { status: 'success', message: 'Event processed', dedup_key: dedup });
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((r) => server.listen(opts.port ?? 0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}/v2/enqueue`,
    requests,
    requestTimes,
    events,
    alerts,
    incidentsOpened: () => [...alerts.values()].reduce((n, a) => n + a.opened, 0),
    script: (...s) => queue.push(...s),
    setDown: (m) => {
      down = m;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
