/**
 * Bearer tokens with scopes. Tokens are compared in constant time (SHA-256 digests, every token
 * checked, no early exit). With no tokens configured the API is open, and the server refuses to
 * listen anywhere but loopback (see main.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import type { Scope } from '../config/schema.ts';

export interface Principal {
  name: string;
  scopes: ReadonlySet<Scope>;
}

interface Entry {
  name: string;
  digest: Buffer;
  scopes: ReadonlySet<Scope>;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export class Auth {
  private readonly entries: Entry[];
  constructor(tokens: ReadonlyArray<{ name: string; token: string; scopes: readonly Scope[] }>, readonly boardPublic = false) {
    this.entries = tokens.map((t) => ({ name: t.name, digest: digest(t.token), scopes: new Set(t.scopes) }));
  }

  /** No tokens configured: everything is open (loopback only). */
  get open(): boolean {
    return this.entries.length === 0;
  }

  identify(token: string | undefined): Principal | undefined {
    if (!token) return undefined;
    const d = digest(token);
    let found: Entry | undefined;
    for (const e of this.entries) {
      if (timingSafeEqual(d, e.digest) && !found) found = e;
    }
    return found ? { name: found.name, scopes: found.scopes } : undefined;
  }

  static allows(p: Principal, scope: Scope): boolean {
    return p.scopes.has(scope) || p.scopes.has('admin');
  }

  /**
   * A hook demanding `scope` (registered as a preHandler; buildServer moves it to onRequest so it
   * runs on the headers, before the body). `allowQueryToken` lets a read token ride in the URL
   * (`?token=…`) for office screens that cannot send headers.
   */
  require(scope: Scope, opts: { allowQueryToken?: boolean; publicRead?: boolean } = {}): preHandlerHookHandler {
    return (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
      if (this.open || (opts.publicRead && this.boardPublic)) return done();
      // Refused before its body is read (this runs on the headers): do not drain the body of a
      // client we do not know, close the connection once the answer is out.
      if (hasBody(req)) lingeringClose(req, reply);
      const header = req.headers.authorization;
      let token: string | undefined;
      if (header) {
        const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
        if (!m) {
          void reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized', message: 'the Authorization header must be "Bearer <token>"' });
          return;
        }
        token = m[1];
      } else if (opts.allowQueryToken) {
        const q = (req.query as Record<string, unknown> | undefined)?.token;
        if (typeof q === 'string') token = q;
      }
      const p = this.identify(token);
      if (!p) {
        void reply
          .code(401)
          .header('www-authenticate', 'Bearer')
          .send({ error: 'unauthorized', message: token ? 'unknown token' : 'a bearer token is required' });
        return;
      }
      if (!Auth.allows(p, scope)) {
        void reply.code(403).send({ error: 'forbidden', message: `this token lacks the "${scope}" scope` });
        return;
      }
      (req as FastifyRequest & { principal?: Principal }).principal = p;
      done();
    };
  }
}

/**
 * After the answer: half-close (the client reads the 401, then EOF), discard whatever it still
 * sends for up to 2 s, then close. Closing at once would make the kernel reset the connection
 * when more body arrives, and a reset can destroy the 401 before the client reads it.
 */
export function lingeringClose(req: FastifyRequest, reply: FastifyReply): void {
  reply.header('connection', 'close');
  const socket = req.raw.socket;
  // Node destroys a `Connection: close` socket right after the response; end it ourselves instead.
  const destroySoon = socket.destroySoon;
  socket.destroySoon = () => {
    socket.destroySoon = destroySoon;
    socket.end();
    socket.on('data', () => {}); // discard, never buffer
    socket.resume();
    const t = setTimeout(() => socket.destroy(), 2_000);
    t.unref();
    socket.once('close', () => clearTimeout(t));
  };
}

const hasBody = (req: FastifyRequest) => {
  const cl = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
};

export function principalOf(req: FastifyRequest): string | undefined {
  return (req as FastifyRequest & { principal?: Principal }).principal?.name;
}

export const isLoopback = (host: string) => host === '127.0.0.1' || host === '::1' || host === 'localhost' || host.startsWith('127.');
