/** Start a real quietwatch service on an ephemeral loopback port with a temp SQLite file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.ts';
import type { Clock } from '../../src/lib/clock.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { vi } from 'vitest';
import { createService, type Service, type ServiceOptions } from '../../src/main.ts';
import type { Logger } from '../../src/lib/logger.ts';

export interface Running {
  url: string;
  svc: Service;
  dir: string;
  close(): Promise<void>;
  fetch(path: string, init?: RequestInit & { token?: string }): Promise<{ status: number; body: any; headers: Headers }>;
  /** The same without a socket (Fastify inject): for tests in virtual time. */
  inject(path: string, init?: { method?: string; body?: string; headers?: Record<string, string>; token?: string }): Promise<{ status: number; body: any }>;
}

export function tempDir(prefix = 'qw-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startService(
  yaml: string,
  opts: { clock?: Clock; dir?: string; env?: NodeJS.ProcessEnv; logger?: Logger; wrap?: ServiceOptions['wrap'] } = {},
): Promise<Running> {
  const dir = opts.dir ?? tempDir();
  const config = parseConfig(yaml, '<test>', { ...process.env, ...opts.env });
  config.server.port = 0;
  config.server.host = '127.0.0.1';
  if (config.store.path === 'data/quietwatch.sqlite') config.store.path = join(dir, 'qw.sqlite');
  // In virtual time the writer thread's real latency would not advance with the fake clock: commits
  // stay on the connection there (the spawned services of the e2e tests use the writer).
  const sqliteWriter = !vi.isFakeTimers();
  const svc = await createService(config, { clock: opts.clock, logger: opts.logger ?? silentLogger(), sqliteWriter, ...(opts.wrap ? { wrap: opts.wrap } : {}) });
  const url = await svc.listen();
  return {
    url,
    svc,
    dir,
    async close() {
      await svc.close();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
    async inject(path, init = {}) {
      const headers: Record<string, string> = { ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers };
      if (init.token) headers.authorization = `Bearer ${init.token}`;
      const res = await svc.app.inject({ method: (init.method ?? 'GET') as 'GET', url: path, headers, ...(init.body !== undefined ? { payload: init.body } : {}) });
      let body: any = res.body;
      try {
        body = JSON.parse(res.body);
      } catch {
        /* text */
      }
      return { status: res.statusCode, body };
    },
    async fetch(path, init = {}) {
      const headers = new Headers(init.headers);
      if (init.token) headers.set('authorization', `Bearer ${init.token}`);
      // fetch labels a string body text/plain, which no-token mode refuses on writes (415): these are JSON.
      if (typeof init.body === 'string' && !headers.has('content-type')) headers.set('content-type', 'application/json');
      const res = await fetch(url + path, { ...init, headers });
      const text = await res.text();
      let body: any = text;
      try {
        body = JSON.parse(text);
      } catch {
        /* text */
      }
      return { status: res.status, body, headers: res.headers };
    },
  };
}
