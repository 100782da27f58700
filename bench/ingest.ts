/**
 * Ingest throughput: events/s accepted by POST /v1/events over real HTTP on loopback, for batches of
 * 1 and of 1,000 events, against the real service (`quietwatch serve`, its own process) with a SQLite
 * store on disk. The load comes from this process. Prints figures; not a test.
 *   npm run bench:ingest [-- --seconds 5 --concurrency 8]
 */
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '8' } } });
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);

const dir = mkdtempSync(join(tmpdir(), 'qw-bench-'));
const checks = Array.from({ length: 20 }, (_, i) => `  - { name: c${i}, stream: auth, match: { scheme: s${i % 4}, region: r${i % 5} }, quietAfter: 30s, pageAfter: 2m }`).join('\n');
const port = await new Promise<number>((resolve) => {
  const srv = createServer().listen(0, '127.0.0.1', () => {
    const p = (srv.address() as { port: number }).port;
    srv.close(() => resolve(p));
  });
});
writeFileSync(join(dir, 'b.yaml'), `server: { port: ${port}, bodyLimit: 10485760 }\nstore: { path: ${join(dir, 'b.sqlite')} }\nsandbox: { enabled: false }\nchecks:\n${checks}\n`);
const bin = fileURLToPath(new URL('../bin/quietwatch.js', import.meta.url));
const server = spawn(process.execPath, [bin, 'serve', '--config', join(dir, 'b.yaml')], { stdio: 'ignore', env: { ...process.env, QUIETWATCH_LOG_LEVEL: 'warn' } });
const url = `http://127.0.0.1:${port}`;
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${url}/healthz`)).ok) break;
  } catch {
    if (i > 200) throw new Error('server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
}

// node:http with keep-alive: a lighter client than fetch, so the figures measure the server.
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
function post(body: string): Promise<{ status: number; text: string }> {
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

async function run(size: number) {
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
  return { size, eventsPerSec: Math.round(accepted / seconds), requestsPerSec: Math.round(requests / seconds), p50ms: p(0.5), p99ms: p(0.99) };
}

console.log(`ingest benchmark: quietwatch serve in its own process; ${concurrency} concurrent clients, ${seconds}s per case, 20 checks on one stream, SQLite on disk (WAL)`);
const rows = [await run(1), await run(1000)];
console.table(rows);
server.kill('SIGTERM');
agent.destroy();
rmSync(dir, { recursive: true, force: true });
