/**
 * Issue 16 item 3: the token is checked on the headers and 401 is answered before any body is
 * read; slow uploads are closed by the request timeout; in-flight body bytes are capped.
 * 200 unauthenticated clients each announce a 4 MiB body and drip part of it: all get 401, the
 * service (a child process, measured alone) stays under +50 MB.
 */
import { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Running } from '../helpers/service.ts';
import { MB, startChild, type Child } from './child.ts';

const INGEST = 'ingest-token-0123456789abcdef';

interface Dripper {
  response: Promise<{ head: string; closedByServer: boolean; ms: number }>;
}

/** Announce `length` bytes, send `send` of them in chunks every `everyMs`, collect what comes back. */
function drip(port: number, opts: { length: number; send: number; chunk: number; everyMs: number; auth?: string; path?: string }): Dripper {
  const sock = new Socket();
  const t0 = performance.now();
  const response = new Promise<{ head: string; closedByServer: boolean; ms: number }>((resolve) => {
    let head = '';
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    let ended = false;
    const finish = () => {
      if (timer) clearInterval(timer);
      resolve({ head, closedByServer: !ended, ms: performance.now() - t0 });
    };
    sock.on('data', (d) => (head += d.toString('latin1')));
    sock.on('error', () => {});
    sock.on('close', finish);
    sock.connect(port, '127.0.0.1', () => {
      sock.write(
        `POST ${opts.path ?? '/v1/events'} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${opts.length}\r\n${opts.auth ? `Authorization: Bearer ${opts.auth}\r\n` : ''}\r\n`,
      );
      timer = setInterval(() => {
        if (sock.destroyed) return;
        if (sent >= opts.send) {
          clearInterval(timer);
          return; // hold the connection open, never finishing the body
        }
        const n = Math.min(opts.chunk, opts.send - sent);
        sent += n;
        sock.write(Buffer.alloc(n, 0x20));
      }, opts.everyMs);
    });
    // Safety net: a test never hangs on a socket.
    setTimeout(() => {
      ended = true;
      sock.destroy();
    }, 20_000).unref();
  });
  return { response };
}

describe('unauthenticated slow bodies (child process)', () => {
  let c: Child;
  beforeAll(async () => {
    c = await startChild(`
auth:
  tokens:
    - { name: pipeline, token: ${INGEST}, scopes: [ingest] }
checks:
  - { name: pay, stream: payments, quietAfter: 30s, pageAfter: 2m }
`);
  }, 60_000);
  afterAll(() => c?.stop());

  it('200 partial 4 MiB bodies without a token: all 401 before the body, RSS under +50 MB', async () => {
    // Warm-up request so the baseline includes a served request.
    await fetch(`${c.url}/v1/events`, { method: 'POST', body: '[]', headers: { 'content-type': 'application/json' } });
    const before = c.rss();
    let peak = before;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, c.rss());
      } catch {
        /* exited */
      }
    }, 25);
    const drippers = Array.from({ length: 200 }, () => drip(c.port, { length: 4 * MB, send: 512 * 1024, chunk: 64 * 1024, everyMs: 50 }));
    const results = await Promise.all(drippers.map((d) => d.response));
    clearInterval(sampler);
    peak = Math.max(peak, c.rss());
    const grew = (peak - before) / MB;
    const statuses = results.map((r) => /^HTTP\/1\.1 (\d{3})/.exec(r.head)?.[1]);
    console.log(`auth before body: 200 drippers -> ${JSON.stringify(count(statuses))}; RSS ${(before / MB).toFixed(0)} MB, peak ${(peak / MB).toFixed(0)} MB (+${grew.toFixed(1)} MB); connections closed by the server within ${Math.max(...results.map((r) => r.ms)).toFixed(0)} ms`);
    expect(statuses.every((s) => s === '401')).toBe(true);
    expect(results.every((r) => /content-type: application\/json/i.test(r.head) && r.head.includes('"error":"unauthorized"'))).toBe(true);
    // The server closed each connection: the rest of the 4 MiB is never read.
    expect(results.every((r) => r.closedByServer)).toBe(true);
    expect(grew).toBeLessThan(50);
    expect((await fetch(`${c.url}/healthz`)).status).toBe(200);
  }, 60_000);
});

describe('request timeout and in-flight body cap (in-process service)', () => {
  let s: Running;
  beforeAll(async () => {
    s = await startService(`
auth:
  tokens:
    - { name: pipeline, token: ${INGEST}, scopes: [ingest] }
server: { bodyLimit: 1048576 }
checks:
  - { name: pay, stream: payments, quietAfter: 30s, pageAfter: 2m }
`);
  });
  afterAll(() => s?.close());

  it('requests must arrive within 30 s by default', () => {
    expect(s.svc.app.server.requestTimeout).toBe(30_000);
  });

  it('an authenticated dripper is answered 408 JSON and closed once the request timeout passes', async () => {
    // Shortened on the running server (the config key is server.requestTimeout).
    const server = s.svc.app.server;
    server.requestTimeout = 1_500;
    server.headersTimeout = 1_500;
    try {
      const { port } = new URL(s.url);
      const r = await drip(Number(port), { length: 10_000, send: 10_000, chunk: 10, everyMs: 100, auth: INGEST }).response;
      expect(r.head).toMatch(/^HTTP\/1\.1 408/);
      expect(r.head).toContain('"error":"request_timeout"');
      expect(r.closedByServer).toBe(true);
      expect(r.ms).toBeGreaterThan(1_400);
      expect(r.ms).toBeLessThan(4_000); // the timeout plus at most one check interval (1 s)
    } finally {
      server.requestTimeout = 30_000;
      server.headersTimeout = 10_000;
    }
  }, 20_000);

  it('bodies in flight beyond 8 x bodyLimit are refused 503 busy, and the bytes are released after', async () => {
    const { port } = new URL(s.url);
    // 8 authenticated slow uploads of 1 MiB each fill the budget...
    const holders = Array.from({ length: 8 }, () => drip(Number(port), { length: 1048576, send: 1024, chunk: 1024, everyMs: 20, auth: INGEST }));
    await new Promise((r) => setTimeout(r, 300));
    const busy = await drip(Number(port), { length: 1048576, send: 1024, chunk: 1024, everyMs: 20, auth: INGEST }).response;
    expect(busy.head).toMatch(/^HTTP\/1\.1 503/);
    expect(busy.head).toContain('"error":"busy"');
    expect(busy.head).toMatch(/retry-after: 1/i);
    // ...and once they go away the budget is back.
    s.svc.app.server.closeAllConnections();
    await Promise.all(holders.map((h) => h.response));
    const ok = await s.fetch('/v1/events', { method: 'POST', token: INGEST, body: JSON.stringify([{ stream: 'payments' }]) });
    expect(ok.status).toBe(202);
  }, 20_000);
});

function count(xs: Array<string | undefined>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[String(x)] = (out[String(x)] ?? 0) + 1;
  return out;
}
