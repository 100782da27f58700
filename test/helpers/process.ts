/** Run the real `quietwatch` CLI as a child process (for restart and CLI tests). */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The real entry point (tsx). */
export const TSX_BIN = fileURLToPath(new URL('../../bin/quietwatch.js', import.meta.url));
/** What tests spawn: the run's prebuilt bundle (test/helpers/cli-bundle.ts) when there is one, else the entry point. */
export const BIN = process.env.QW_TEST_BIN && !process.env.QW_TEST_TSX ? process.env.QW_TEST_BIN : TSX_BIN;

/**
 * A free TCP port on 127.0.0.1 for a server a test starts (and may restart on the same port).
 * Picked below the kernel's ephemeral range (32768–60999 here): a port from listen(0) sits in that
 * range, so between a replica's SIGKILL and its restart any outgoing connection or another test's
 * listen(0) could take it — the replica then exits with EADDRINUSE, and events "accepted" on that
 * port went to another test's server. Below the range only another freePort can collide, and each
 * worker draws from its own slice of 20000–32767.
 */
const taken = new Set<number>();
export async function freePort(): Promise<number> {
  const worker = Number(process.env.VITEST_POOL_ID ?? process.pid) % 16;
  const slice = Math.floor((32768 - 20000) / 16);
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + worker * slice + Math.floor(Math.random() * slice);
    if (taken.has(port)) continue;
    if (await canListen(port)) {
      taken.add(port);
      return port;
    }
  }
  throw new Error('freePort: no free port below the ephemeral range after 200 tries');
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export interface Proc {
  child: ChildProcess;
  lines: () => Array<Record<string, any>>;
  exited: Promise<number | null>;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Array<Record<string, any>> = [];
  let buf = '';
  const onData = (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        out.push(JSON.parse(line));
      } catch {
        out.push({ text: line });
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, lines: () => out, exited };
}

export async function waitFor<T>(fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, stepMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ''}`);
}

export async function getJson(url: string, token?: string): Promise<any> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return res.json();
}
