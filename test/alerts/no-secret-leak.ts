/**
 * The shared no-leak check: run a failing notifier call and prove that no secret appears in the
 * thrown error (message, stack, String(), util.inspect with causes, JSON) or in any captured log line.
 */
import { inspect } from 'node:util';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';

function renderings(err: unknown): string[] {
  const out: string[] = [];
  let e: unknown = err;
  for (let i = 0; e && i < 6; i++) {
    const x = e as { message?: unknown; stack?: unknown; cause?: unknown };
    out.push(String(x.message ?? ''), String(x.stack ?? ''), String(e));
    try {
      out.push(JSON.stringify(e));
    } catch {
      /* circular */
    }
    e = x.cause;
  }
  out.push(inspect(err, { depth: 10 }));
  return out;
}

export async function expectNoSecretLeak(opts: {
  secrets: string[];
  action: () => Promise<unknown>;
  logs?: () => string[];
}): Promise<unknown> {
  let thrown: unknown;
  try {
    await opts.action();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'the call should fail').toBeDefined();
  const texts = [...renderings(thrown), ...(opts.logs?.() ?? [])];
  for (const secret of opts.secrets) {
    for (const t of texts) {
      expect(t.includes(secret), `secret leaked in: ${t.slice(0, 500)}`).toBe(false);
    }
  }
  return thrown;
}

/** A hostile receiver that echoes the whole request (URL, headers, body) back in its error answer. */
export async function startEchoServer(status: number, headers: Record<string, string> = {}): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify({ ok: false, error: 'echo', url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
