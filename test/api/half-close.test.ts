/**
 * A client that half-closes its socket after the request (HTTP/1.0 tools, `nc`, some proxies'
 * health checks) gets the answer even when the route awaits a store that is really asynchronous
 * (PostgreSQL; here an alert store that answers 30 ms later). Node's default ends such a socket
 * at once, and the answer went into a closed socket: no response at all.
 */
import { Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import type { AlertStore } from '../../src/alerts/outbox.ts';
import { startService, type Running } from '../helpers/service.ts';

let s: Running;
afterAll(async () => s?.close());

/** The same store, each listIncidents answered a macrotask later. */
function slow(store: AlertStore): AlertStore {
  return new Proxy(store, {
    get(target, k, recv) {
      const v = Reflect.get(target, k, recv) as unknown;
      if (k !== 'listIncidents' || typeof v !== 'function') return typeof v === 'function' ? v.bind(target) : v;
      return async (...args: unknown[]) => {
        await new Promise((r) => setTimeout(r, 30));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

function halfClosed(url: string, path: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = new Socket();
    let out = '';
    sock.setTimeout(5_000, () => sock.destroy(new Error('timeout')));
    sock.on('data', (d) => (out += d.toString('latin1')));
    sock.on('close', () => resolve(out));
    sock.on('error', reject);
    sock.connect(Number(port), hostname, () => sock.end(`GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n\r\n`));
  });
}

describe('a half-closed request', () => {
  it('is answered by a route that awaits a slow store', async () => {
    s = await startService('checks:\n  - { name: c1, quietAfter: 30s, pageAfter: 2m }\n', { wrap: { alertStore: slow } });
    const res = await halfClosed(s.url, '/v1/incidents?open=false');
    expect(res).toMatch(/^HTTP\/1\.1 200 /);
    expect(res).toMatch(/"incidents"\s*:\s*\[\]/);
  });
});
