/**
 * A real service for board tests: buildServer with the board plugin, a real CheckRuntime on a
 * SqliteStore in a temp dir, and Auth with read / ingest / admin tokens. The incident list is an
 * in-memory array the test controls; with `autoIncidents` it follows the runtime's down and
 * recovered alerts the way the alert manager does.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Auth } from '../../src/api/auth.ts';
import { buildServer } from '../../src/api/server.ts';
import { boardPlugin, type BoardDeps, type BoardPlugin, type IncidentLike } from '../../src/board/index.ts';
import { CheckRuntime } from '../../src/checks/runtime.ts';
import type { CheckSpec, Effect } from '../../src/checks/types.ts';
import { systemClock } from '../../src/lib/clock.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';

export const READ = 'board-read-token-0123456789';
export const INGEST = 'board-ingest-token-0123456789';
export const ADMIN = 'board-admin-token-0123456789';

export const spec = (name: string, quietAfterMs: number, pageAfterMs: number): CheckSpec => ({ name, stream: name, match: {}, quietAfterMs, pageAfterMs, labels: {} });

export interface BoardService {
  url: string;
  runtime: CheckRuntime;
  plugin: BoardPlugin;
  /** The open incidents the board reads; tests may change it freely. */
  incidents: IncidentLike[];
  ping(stream: string): Promise<number>;
  /**
   * Stop the service. Node's fetch (undici) may open a spare connection when a streaming request
   * is aborted; it never sends a request, so Fastify's idle-connection sweep skips it and
   * server.close() would wait for it forever. After a grace period such connections are closed, and
   * `forced` reports it (a test of prompt shutdown checks that it was not needed).
   */
  close(): Promise<{ forced: boolean }>;
}

export async function startBoard(opts: {
  checks: CheckSpec[];
  public?: boolean;
  autoIncidents?: boolean;
  board?: Partial<Omit<BoardDeps, 'runtime' | 'clock'>>;
}): Promise<BoardService> {
  const dir = mkdtempSync(join(tmpdir(), 'qw-board-'));
  const store = new SqliteStore(join(dir, 'qw.sqlite'));
  const logger = silentLogger();
  const incidents: IncidentLike[] = [];
  let seq = 0;
  const onEffect = (ef: Effect) => {
    if (!opts.autoIncidents || ef.type !== 'alert') return;
    if (ef.kind === 'down' && !incidents.some((i) => i.check === ef.check)) {
      incidents.push({ id: `inc_${++seq}`, check: ef.check, openedAt: ef.at, summary: `${ef.check}: ${ef.reason}` });
    } else if (ef.kind === 'recovered') {
      for (let i = incidents.length - 1; i >= 0; i--) if (incidents[i]!.check === ef.check) incidents.splice(i, 1);
    }
  };
  const runtime = new CheckRuntime({ checks: opts.checks.map((s) => ({ spec: s })), store, clock: systemClock, logger, onEffect });
  const auth = new Auth(
    [
      { name: 'screens', token: READ, scopes: ['read'] },
      { name: 'pipeline', token: INGEST, scopes: ['ingest'] },
      { name: 'ops', token: ADMIN, scopes: ['admin'] },
    ],
    opts.public ?? false,
  );
  const plugin = boardPlugin({ runtime, clock: systemClock, incidents: async () => incidents, logger, ...opts.board });
  // Accepted events feed the tiles' sparklines, as the service wires them.
  const app = await buildServer({ runtime, store, auth, clock: systemClock, logger, bodyLimit: 1 << 20, plugins: [plugin], onAccepted: (events) => plugin.recordEvents(events) });
  await runtime.start();
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    runtime,
    plugin,
    incidents,
    async ping(stream) {
      const r = await fetch(`${url}/v1/streams/${encodeURIComponent(stream)}/ping`, { method: 'POST', headers: { authorization: `Bearer ${INGEST}` } });
      await r.arrayBuffer();
      return r.status;
    },
    async close() {
      runtime.stop();
      let forced = false;
      const grace = setTimeout(() => {
        forced = true;
        app.server.closeAllConnections();
      }, 1000);
      await app.close();
      clearTimeout(grace);
      await runtime.flushed();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
      return { forced };
    },
  };
}

export interface Frame {
  event?: string;
  data?: any;
  comment?: string;
  retry?: number;
  raw: string;
}

/** Parse complete SSE frames from `buf`; returns the frames and what is left over. */
export function parseFrames(buf: string): { frames: Frame[]; rest: string } {
  const frames: Frame[] = [];
  let idx: number;
  while ((idx = buf.indexOf('\n\n')) >= 0) {
    const raw = buf.slice(0, idx);
    buf = buf.slice(idx + 2);
    const f: Frame = { raw };
    const data: string[] = [];
    for (const line of raw.split('\n')) {
      if (line.startsWith(':')) f.comment = line.slice(1).trim();
      else if (line.startsWith('event:')) f.event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
      else if (line.startsWith('retry:')) f.retry = Number(line.slice(6));
    }
    if (data.length) f.data = JSON.parse(data.join('\n'));
    frames.push(f);
  }
  return { frames, rest: buf };
}

export interface Stream {
  status: number;
  headers: Headers;
  frames: Frame[];
  /** The first frame from index `from` on that matches, waiting up to `timeoutMs`. */
  next(pred: (f: Frame) => boolean, timeoutMs?: number, from?: number): Promise<Frame>;
  close(): Promise<void>;
}

/** Open the board stream with a real fetch and read it as it arrives. */
export async function openStream(url: string, init: RequestInit = {}): Promise<Stream> {
  const ac = new AbortController();
  const res = await fetch(url, { ...init, signal: ac.signal });
  const frames: Frame[] = [];
  const waiters = new Set<() => void>();
  let done = false;
  if (res.ok && res.body) {
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    void (async () => {
      try {
        for (;;) {
          const { value, done: end } = await reader.read();
          if (end) break;
          buf += dec.decode(value, { stream: true });
          const p = parseFrames(buf);
          buf = p.rest;
          frames.push(...p.frames);
          for (const w of waiters) w();
        }
      } catch {
        /* aborted */
      } finally {
        done = true;
        for (const w of waiters) w();
      }
    })();
  } else {
    await res.arrayBuffer().catch(() => undefined);
  }
  return {
    status: res.status,
    headers: res.headers,
    frames,
    next(pred, timeoutMs = 5000, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const f = frames.slice(from).find(pred);
          if (f) {
            cleanup();
            resolve(f);
          } else if (done) {
            cleanup();
            reject(new Error(`stream ended without the expected frame; got: ${frames.map((x) => x.event ?? `:${x.comment}`).join(', ')}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no matching frame within ${timeoutMs} ms; got: ${frames.map((x) => x.event ?? `:${x.comment}`).join(', ')}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async close() {
      ac.abort();
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `cond` until true or fail after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
