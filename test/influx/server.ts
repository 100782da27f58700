/**
 * A real InfluxDB for tests: Debian's `influxdb` package (1.6.7), started on loopback on free ports
 * with a temp config and data dir, plus a small gateway that gives 1.6 the `/api/v2/write` endpoint
 * (added only in 1.8) the client writes to.
 *
 *   const influx = await startInfluxd();            // installs the package when /usr/bin/influxd is missing
 *   await influx.createDatabase('qw');
 *   const gw = await startGateway(influx.url);       // gw.url: point the v2 client here
 *   influx.kill(); await influx.restart();           // outage and recovery on the same port and data
 *   await gw.close(); await influx.stop();
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/process.ts';

export const INFLUXD = '/usr/bin/influxd';

/** Install Debian's influxdb when influxd is missing (needs root and the Debian mirror). */
export function ensureInfluxInstalled(): void {
  if (existsSync(INFLUXD)) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args: string[]) => {
    const r = spawnSync('apt-get', args, { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed (${r.status}): ${r.stderr?.toString().slice(-2000)}`);
  };
  try {
    run(['install', '-y', '-q', 'influxdb']);
  } catch {
    run(['update', '-q']);
    run(['install', '-y', '-q', 'influxdb']);
  }
  if (!existsSync(INFLUXD)) throw new Error(`apt-get install influxdb did not provide ${INFLUXD}`);
}

export interface InfluxServer {
  /** http://127.0.0.1:PORT of influxd itself (v1 API: /query, /write, /ping). */
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Run InfluxQL (POST /query); throws on an HTTP or statement error. */
  query(q: string, db?: string): Promise<QueryResult>;
  createDatabase(db: string): Promise<void>;
  /** SIGKILL: an outage. */
  kill(): Promise<void>;
  /** Start again on the same port and data dir. */
  restart(): Promise<void>;
  /** Stop and remove the temp dir. */
  stop(): Promise<void>;
}

export interface Series {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}
export interface QueryResult {
  results: { statement_id: number; series?: Series[]; error?: string }[];
  error?: string;
}

export async function waitForPing(url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 204) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`influxd at ${url} did not answer /ping within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `auth`: auth-enabled (the first user must be an admin: CREATE USER … WITH ALL PRIVILEGES, then every request needs credentials). */
export async function startInfluxd(opts: { auth?: boolean } = {}): Promise<InfluxServer> {
  ensureInfluxInstalled();
  const dir = mkdtempSync(join(tmpdir(), 'qw-influxd-'));
  const port = await freePort();
  const rpcPort = await freePort();
  const config = join(dir, 'influxdb.conf');
  writeFileSync(
    config,
    `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"

[meta]
  dir = "${dir}/meta"
  logging-enabled = false

[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  query-log-enabled = false
  wal-fsync-delay = "0s"

[http]
  enabled = true
  bind-address = "127.0.0.1:${port}"
  auth-enabled = ${opts.auth ? 'true' : 'false'}
  log-enabled = false
  flux-enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false

[logging]
  level = "warn"
`,
  );
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let stderr = '';

  const launch = async () => {
    stderr = '';
    const c = spawn(INFLUXD, ['-config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child = c;
    const exited = new Promise<never>((_, reject) => c.once('exit', (code) => reject(new Error(`influxd exited (${code}): ${stderr}`))));
    exited.catch(() => {});
    await Promise.race([waitForPing(url), exited]);
  };
  const killChild = async (signal: NodeJS.Signals) => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const hard = setTimeout(() => c.kill('SIGKILL'), 10_000);
      c.once('exit', () => {
        clearTimeout(hard);
        resolve();
      });
      c.kill(signal);
    });
  };

  // never leave an influxd behind when the test process dies without afterAll
  const onExit = () => {
    child?.kill('SIGKILL');
  };
  process.once('exit', onExit);

  await launch();

  const query = async (q: string, db?: string): Promise<QueryResult> => {
    const body = new URLSearchParams({ q, epoch: 'ms', ...(db ? { db } : {}) });
    const res = await fetch(`${url}/query`, { method: 'POST', body, signal: AbortSignal.timeout(10_000) });
    const json = (await res.json()) as QueryResult;
    const err = json.error ?? json.results?.find((r) => r.error)?.error;
    if (!res.ok || err) throw new Error(`influxql failed (${res.status}): ${err ?? JSON.stringify(json)} -- ${q}`);
    return json;
  };

  return {
    url,
    port,
    dir,
    query,
    createDatabase: async (db) => {
      await query(`CREATE DATABASE "${db.replace(/["\\]/g, '\\$&')}"`);
    },
    kill: () => killChild('SIGKILL'),
    restart: async () => {
      await killChild('SIGKILL');
      await launch();
    },
    stop: async () => {
      process.removeListener('exit', onExit);
      await killChild('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Gateway {
  readonly url: string;
  /** Requests seen on /api/v2/write (for assertions). */
  readonly writes: { db: string; precision: string; status: number }[];
  close(): Promise<void>;
}

/**
 * `/api/v2/write?bucket=DB[/RP]&precision=P` -> `/write?db=DB&rp=RP&precision=P` (`us` -> `u`);
 * everything else (`/query`, `/ping`) passes through unchanged. Upstream down -> 503.
 */
export async function startGateway(upstream: string): Promise<Gateway> {
  const target = new URL(upstream);
  const writes: Gateway['writes'] = [];
  const server = http.createServer((req, res) => {
    const inUrl = new URL(req.url ?? '/', 'http://gateway');
    let path = inUrl.pathname + inUrl.search;
    let isWrite = false;
    let db = '';
    let precision = '';
    if (inUrl.pathname === '/api/v2/write') {
      isWrite = true;
      const bucket = inUrl.searchParams.get('bucket') ?? '';
      const [d, rp] = bucket.split('/', 2);
      db = d ?? '';
      precision = inUrl.searchParams.get('precision') ?? 'ns';
      const out = new URLSearchParams({ db, precision: precision === 'us' ? 'u' : precision });
      if (rp) out.set('rp', rp);
      path = `/write?${out}`;
    }
    const headers = { ...req.headers, host: target.host };
    const up = http.request({ hostname: target.hostname, port: target.port, method: req.method, path, headers }, (upRes) => {
      if (isWrite) writes.push({ db, precision, status: upRes.statusCode ?? 0 });
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', (err) => {
      if (isWrite) writes.push({ db, precision, status: 503 });
      if (!res.headersSent) res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 'unavailable', message: `upstream: ${err.message}` }));
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    writes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A fresh influxd with database `db`, and the v2-write gateway in front of it; `stop()` ends both. */
export async function startInfluxWithGateway(db: string): Promise<{ influx: InfluxServer; gw: Gateway; stop(): Promise<void> }> {
  const influx = await startInfluxd();
  await influx.createDatabase(db);
  const gw = await startGateway(influx.url);
  return {
    influx,
    gw,
    async stop() {
      await gw.close();
      await influx.stop();
    },
  };
}
