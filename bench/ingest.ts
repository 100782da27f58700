/**
 * Ingest throughput: events/s accepted by POST /v1/events over real HTTP on loopback, for batches of
 * 1 and of 1,000 events, against the real service (`quietwatch serve`, its own process) with a SQLite
 * store on disk. The load comes from this process. Prints figures; not a test.
 *   npm run bench:ingest [-- --seconds 5 --concurrency 8]
 *   npm run bench:ingest -- --store postgres   (a throwaway PostgreSQL cluster: one replica, then two
 *     replicas sharing the load, and how long the leader takes to apply what was accepted)
 */
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '8' }, store: { type: 'string', default: 'sqlite' } } });
const usePg = values.store === 'postgres';
if (!usePg && values.store !== 'sqlite') throw new Error('--store sqlite | postgres');
const pgc = usePg ? await (await import('../test/helpers/postgres.ts')).startPostgres() : undefined;
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);

const dir = mkdtempSync(join(tmpdir(), 'qw-bench-'));
const checks = Array.from({ length: 20 }, (_, i) => `  - { name: c${i}, stream: auth, match: { scheme: s${i % 4}, region: r${i % 5} }, quietAfter: 30s, pageAfter: 2m }`).join('\n');
const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
writeFileSync(join(dir, 'b.yaml'), `server: { bodyLimit: 10485760 }\nstore: { path: ${join(dir, 'b.sqlite')} }\nsandbox: { enabled: false }\nchecks:\n${checks}\n`);
const bin = fileURLToPath(new URL('../bin/quietwatch.js', import.meta.url));
async function startServer(): Promise<{ url: string; kill: () => void }> {
  const port = await freePort();
  const env = { ...process.env, QUIETWATCH_LOG_LEVEL: 'warn', ...(pgc ? { QUIETWATCH_STORE_URL: pgc.url } : {}) };
  const server = spawn(process.execPath, [bin, 'serve', '--config', join(dir, 'b.yaml'), '--port', String(port)], { stdio: 'ignore', env });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      if (i > 400) throw new Error('server did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { url, kill: () => server.kill('SIGTERM') };
}
const servers = [await startServer()];
let urls = [servers[0]!.url];

// node:http with keep-alive: a lighter client than fetch, so the figures measure the server.
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
let rr = 0;
function post(body: string): Promise<{ status: number; text: string }> {
  const url = urls[rr++ % urls.length]!;
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/events`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function batch(n: number): string {
  const now = Date.now();
  return JSON.stringify(Array.from({ length: n }, (_, i) => ({ stream: 'auth', time: now, id: `t${i}`, attributes: { scheme: `s${i % 4}`, region: `r${i % 5}`, amount: 1234 } })));
}

async function run(size: number, replicas = 1) {
  const body = batch(size);
  let accepted = 0;
  let requests = 0;
  const end = Date.now() + seconds * 1000;
  const lat: number[] = [];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        const t = performance.now();
        const { status, text } = await post(body);
        const j = JSON.parse(text) as { accepted: number };
        if (status !== 202) throw new Error(`status ${status}: ${text}`);
        lat.push(performance.now() - t);
        accepted += j.accepted;
        requests++;
      }
    }),
  );
  lat.sort((a, b) => a - b);
  const p = (q: number) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))]!.toFixed(2);
  return { size, replicas, eventsPerSec: Math.round(accepted / seconds), requestsPerSec: Math.round(requests / seconds), p50ms: p(0.5), p99ms: p(0.99) };
}

console.log(
  `ingest benchmark: quietwatch serve in its own process; ${concurrency} concurrent clients, ${seconds}s per case, 20 checks on one stream, ` +
    (pgc ? 'PostgreSQL (a local throwaway cluster; 202 = committed to the relay, applied by the leader)' : 'SQLite on disk (WAL)'),
);
const rows = [await run(1), await run(1000)];
/** PostgreSQL: how long until the leader has applied everything accepted (the relay is empty). */
async function drained(): Promise<number> {
  const t0 = performance.now();
  while (Number(pgc!.psql('SELECT count(*) FROM ingest_batches', 'quietwatch')) > 0) await new Promise((r) => setTimeout(r, 100));
  return Math.round(performance.now() - t0);
}
const drain: Record<string, number> = {};
if (pgc) {
  drain['1 replica'] = await drained();
  servers.push(await startServer());
  urls = servers.map((x) => x.url);
  rows.push(await run(1000, 2));
  drain['2 replicas'] = await drained();
}
console.table(rows);
if (pgc) console.log(`ms after the load until the leader had applied every accepted event: ${JSON.stringify(drain)}`);
for (const x of servers) x.kill();
agent.destroy();
pgc?.stop();
rmSync(dir, { recursive: true, force: true });
