/**
 * InfluxDB write endpoints on quietwatch, so Telegraf (`outputs.influxdb_v2` or `outputs.influxdb`)
 * and any InfluxDB client can feed checks:
 *
 *   POST /api/v2/write?org=…&bucket=…&precision=ns|us|ms|s     Authorization: Token <ingest token>
 *   POST /write?db=…&precision=n|ns|u|us|ms|s|m|h               ?u=…&p=<token>, Basic, Token or Bearer
 *
 * The body is line protocol (Content-Encoding: gzip too, Telegraf's default); each point is an event
 * on the stream named by its measurement, tags and fields its attributes (src/ingest/line-protocol.ts).
 * All or nothing: a bad line answers 400 naming the line and nothing is ingested. Success answers
 * 204, as InfluxDB does. `org`, `bucket` and `db` are accepted and ignored (the measurement picks the
 * stream). `GET|HEAD /ping` answers 204 for clients that check the server first.
 *
 * Auth: the ingest scope, as for /v1/events. InfluxDB clients cannot send `Bearer`, so the token is
 * read from `Authorization: Token X` (v2 clients, Telegraf), `Authorization: Basic` (the password)
 * or the `p` query parameter (1.x clients), and handed to the server's bearer auth.
 */
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiPlugin } from '../api/server.ts';
import type { IngestEvent } from '../checks/runtime.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { IngestError } from './parse.ts';
import { PRECISIONS, parseLineProtocol, parsePrecision } from './line-protocol.ts';

const gunzipAsync = promisify(gunzip);

export interface InfluxWriteDeps {
  /** Ingest an accepted batch (the runtime's ingest plus whatever counts accepted events). Rejects when it could not be stored. */
  ingest: (events: IngestEvent[]) => Promise<void>;
  clock: Clock;
  logger: Logger;
  /** Largest request body as sent (compressed or not), bytes. Default 5 MiB, the server's default. */
  bodyLimit?: number;
  /** Largest body after gunzip, bytes. Default 64 MiB. */
  maxDecompressedBytes?: number;
  /** Event times further than this from arrival are refused, as on /v1/events (config `ingest.maxClockSkew`; default 1 day). */
  maxClockSkewMs?: number;
}

function errorBody(error: string, message: string, extra: Record<string, unknown> = {}) {
  // `code` as InfluxDB 2.x answers it, so its clients and Telegraf show `message`.
  return { error, code: error === 'unavailable' ? 'unavailable' : 'invalid', message, ...extra };
}

/** Turn the InfluxDB ways of sending a token into the `Bearer` the server's auth reads. */
export function bearerFromInflux(headers: Record<string, string | string[] | undefined>, query: Record<string, unknown>): string | undefined {
  const h = headers.authorization;
  const header = Array.isArray(h) ? h[0] : h;
  if (header) {
    const token = /^Token\s+(\S+)\s*$/i.exec(header);
    if (token) return `Bearer ${token[1]}`;
    const basic = /^Basic\s+(\S+)\s*$/i.exec(header);
    if (basic) {
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      return `Bearer ${colon >= 0 ? decoded.slice(colon + 1) : decoded}`;
    }
    return undefined; // Bearer (or garbage): left to the server's auth as it is
  }
  const p = query.p;
  if (typeof p === 'string' && p !== '') return `Bearer ${p}`;
  return undefined;
}

export function influxWritePlugin(deps: InfluxWriteDeps): ApiPlugin {
  const bodyLimit = deps.bodyLimit ?? 5 * 1024 * 1024;
  const maxDecompressed = deps.maxDecompressedBytes ?? 64 * 1024 * 1024;
  const log = deps.logger.child({ component: 'influx-write' });

  async function bodyText(req: FastifyRequest, reply: FastifyReply): Promise<string | undefined> {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const enc = String(req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (enc === 'identity' || enc === '') return raw.toString('utf8');
    if (enc !== 'gzip') {
      await reply.code(415).send(errorBody('unsupported_media_type', `Content-Encoding ${JSON.stringify(enc)} is not supported: send gzip or identity`, { field: 'content-encoding' }));
      return undefined;
    }
    try {
      return (await gunzipAsync(raw, { maxOutputLength: maxDecompressed })).toString('utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || (err as Error).message?.includes('maxOutputLength')) {
        await reply.code(413).send(errorBody('payload_too_large', `the body is larger than ${maxDecompressed} bytes once decompressed; send smaller batches`));
      } else {
        await reply.code(400).send(errorBody('bad_request', `Content-Encoding is gzip but the body is not valid gzip: ${(err as Error).message}`, { field: 'body' }));
      }
      return undefined;
    }
  }

  function write(api: 'v1' | 'v2') {
    return async (req: FastifyRequest, reply: FastifyReply) => {
      const query = (req.query ?? {}) as Record<string, unknown>;
      const rawPrecision = query.precision;
      if (rawPrecision !== undefined && typeof rawPrecision !== 'string') {
        return reply.code(400).send(errorBody('bad_request', 'precision must be given once', { field: 'precision' }));
      }
      const precision = parsePrecision(rawPrecision, api);
      if (!precision) {
        return reply.code(400).send(errorBody('bad_request', `precision ${JSON.stringify(rawPrecision)} is not one of ${PRECISIONS[api]}`, { field: 'precision' }));
      }
      const text = await bodyText(req, reply);
      if (text === undefined) return reply;
      let events: IngestEvent[];
      try {
        events = parseLineProtocol(text, deps.clock.now(), precision, deps.maxClockSkewMs !== undefined ? { maxClockSkewMs: deps.maxClockSkewMs } : {});
      } catch (err) {
        if (err instanceof IngestError) {
          const first = err.problems[0]!;
          return reply.code(400).send(
            errorBody('invalid_line_protocol', err.message, {
              ...(first.line !== undefined ? { line: first.line } : {}),
              ...(first.field !== undefined ? { field: first.field } : {}),
              problems: err.problems,
              accepted: 0,
            }),
          );
        }
        throw err;
      }
      try {
        await deps.ingest(events);
      } catch (err) {
        log.error({ err, points: events.length }, 'could not store a line-protocol batch');
        return reply.code(503).header('retry-after', '1').send(errorBody('unavailable', 'the batch could not be stored; nothing was accepted, retry'));
      }
      return reply.code(204).send();
    };
  }

  return {
    async register(app: FastifyInstance, { requireScope }) {
      await app.register(async (sub) => {
        sub.removeAllContentTypeParsers();
        sub.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));
        // Before auth (preHandler): map the InfluxDB token forms to Bearer.
        sub.addHook('onRequest', async (req) => {
          const bearer = bearerFromInflux(req.headers, (req.query ?? {}) as Record<string, unknown>);
          if (bearer) req.headers.authorization = bearer;
        });
        const opts = { preHandler: requireScope('ingest'), bodyLimit };
        sub.post('/api/v2/write', opts, write('v2'));
        sub.post('/write', opts, write('v1'));
        const ping = async (_req: FastifyRequest, reply: FastifyReply) => reply.code(204).header('x-influxdb-version', 'quietwatch').send();
        sub.get('/ping', ping);
      });
    },
    openApiPaths: {
      '/api/v2/write': {
        post: {
          summary: 'Ingest InfluxDB line protocol (InfluxDB 2.x write API: Telegraf outputs.influxdb_v2, InfluxDB clients)',
          description:
            'Each point is an event on the stream named by its measurement; tags and fields become attributes; the timestamp (in `precision`) the event time. Content-Encoding: gzip accepted. All or nothing: 400 names the bad line. Token: `Authorization: Token <ingest token>` (or Bearer).',
          parameters: [
            { name: 'org', in: 'query', required: false, schema: { type: 'string' }, description: 'accepted and ignored' },
            { name: 'bucket', in: 'query', required: false, schema: { type: 'string' }, description: 'accepted and ignored' },
            { name: 'precision', in: 'query', required: false, schema: { type: 'string', enum: ['ns', 'us', 'ms', 's'], default: 'ns' } },
          ],
          requestBody: { required: true, content: { 'text/plain': { schema: { type: 'string' } } } },
          responses: { '204': { description: 'all points accepted' }, '400': { description: 'a bad line (named) or parameter; nothing accepted' }, '401': { description: 'no or unknown token' }, '503': { description: 'could not be stored; retry' } },
        },
      },
      '/write': {
        post: {
          summary: 'Ingest InfluxDB line protocol (InfluxDB 1.x write API: Telegraf outputs.influxdb)',
          description: 'As /api/v2/write; the token as `p` (with any `u`), Basic auth password, `Token` or Bearer.',
          parameters: [
            { name: 'db', in: 'query', required: false, schema: { type: 'string' }, description: 'accepted and ignored' },
            { name: 'precision', in: 'query', required: false, schema: { type: 'string', enum: ['n', 'ns', 'u', 'us', 'ms', 's', 'm', 'h'], default: 'ns' } },
            { name: 'u', in: 'query', required: false, schema: { type: 'string' } },
            { name: 'p', in: 'query', required: false, schema: { type: 'string' }, description: 'the ingest token' },
          ],
          requestBody: { required: true, content: { 'text/plain': { schema: { type: 'string' } } } },
          responses: { '204': { description: 'all points accepted' }, '400': { description: 'a bad line (named) or parameter; nothing accepted' }, '401': { description: 'no or unknown token' }, '503': { description: 'could not be stored; retry' } },
        },
      },
    },
  };
}
