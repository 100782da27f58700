/**
 * No-token mode guard. Without tokens the API is open on loopback, so any web page the operator
 * opens could write to it: a cross-site `text/plain` POST is a "simple request" (no CORS
 * preflight), and DNS rebinding points a foreign name at 127.0.0.1. So, without tokens:
 *
 * - `Host` must be a loopback name, the address the connection arrived on, or an allowed host
 *   (421 otherwise: a rebound name is not this server);
 * - state-changing requests (POST, PUT, PATCH, DELETE) must not come from another site:
 *   `Sec-Fetch-Site` other than same-origin/none, or an `Origin` that is not this host, is 403;
 * - their bodies must be JSON (`application/json`, `application/x-ndjson`, `application/jsonl`,
 *   `+json`): anything else is 415, so no HTML form or `text/plain` fetch gets in.
 *   (Line protocol too: without tokens send it with no Content-Type; see influx-write-routes.ts.)
 *
 * With tokens configured none of this applies: a page cannot read or send a bearer token.
 */
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { isLoopback } from './auth.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const JSON_TYPES = new Set(['application/json', 'application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/json-seq']);

const body = (error: string, message: string, field: string) => ({ error, message, field });

/** `host[:port]` or `[v6]:port` -> the host name, lower case, brackets removed. */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const i = h.lastIndexOf(':');
  return i >= 0 && h.indexOf(':') === i ? h.slice(0, i) : h;
}

const isLoopbackName = (name: string) => isLoopback(name) || name === 'localhost.' || name.endsWith('.localhost') || name === '::ffff:127.0.0.1';

export function isJsonContentType(ct: string): boolean {
  const media = ct.split(';')[0]!.trim().toLowerCase();
  return JSON_TYPES.has(media) || (media.startsWith('application/') && media.endsWith('+json'));
}

export function guardNoTokenMode(opts: { allowedHosts: readonly string[] }): onRequestHookHandler {
  const allowed = new Set(opts.allowedHosts.map((h) => hostName(h)));
  return (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    const host = req.headers.host;
    if (host !== undefined) {
      const name = hostName(host);
      const local = (req.socket?.localAddress ?? '').replace(/^::ffff:/, '');
      if (!isLoopbackName(name) && name !== local && !allowed.has(name)) {
        void reply
          .code(421)
          .send(
            body(
              'misdirected_request',
              `Host ${JSON.stringify(host.slice(0, 100))} is not this server: without API tokens only loopback names are accepted (DNS rebinding protection); configure auth.tokens to serve other names`,
              'host',
            ),
          );
        return;
      }
    }
    if (SAFE_METHODS.has(req.method)) return done();
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') {
      void reply.code(403).send(body('cross_site', `a ${site} request may not change state without API tokens (Sec-Fetch-Site: ${site})`, 'sec-fetch-site'));
      return;
    }
    const origin = req.headers.origin;
    if (origin !== undefined) {
      let originHost: string | undefined;
      try {
        originHost = origin === 'null' ? undefined : new URL(origin).host.toLowerCase();
      } catch {
        originHost = undefined;
      }
      if (originHost === undefined || host === undefined || originHost !== host.trim().toLowerCase()) {
        void reply.code(403).send(body('cross_site', `Origin ${JSON.stringify(origin.slice(0, 100))} is another site: it may not change state without API tokens`, 'origin'));
        return;
      }
    }
    const ct = req.headers['content-type'];
    if (ct !== undefined && !isJsonContentType(ct)) {
      void reply
        .code(415)
        .send(body('unsupported_media_type', `Content-Type ${JSON.stringify(ct.slice(0, 100))} is refused on writes without API tokens: send application/json (or application/x-ndjson)`, 'content-type'));
      return;
    }
    done();
  };
}
