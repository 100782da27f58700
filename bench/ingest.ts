/**
 * Ingest throughput: events/s accepted by POST /v1/events over real HTTP on loopback, for batches of
 * 1 and of 1,000 events, against the real service (`quietwatch serve`, its own process) with a SQLite
 * store on disk. The load comes from this process. Prints figures; not a test.
 *   npm run bench:ingest [-- --seconds 5 --concurrency 8]
 *   npm run bench:ingest -- --store postgres [--rounds 3]   (a throwaway PostgreSQL cluster: one
 *     replica, then two replicas sharing the load, and how long the leader takes to apply what was
 *     accepted; then, batches of 1,000, one and two replicas taking the load in turn, `rounds` times
 *     each, medians: on a machine shared with other work the load of the moment moves the figures
 *     more than the difference being measured)
 * Each case also reports the CPU each process used (from /proc: the servers, PostgreSQL's server
 * processes, this load generator) in cores over the case, so a machine that is itself the limit shows.
 */
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '8' }, store: { type: 'string', default: 'sqlite' }, rounds: { type: 'string', default: '3' } } });
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
async function startServer(): Promise<{ url: string; pid: number; kill: () => void }> {
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
  return { url, pid: server.pid!, kill: () => server.kill('SIGTERM') };
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

/** Resident memory of a process from /proc/<pid>/status, MiB: now (VmRSS) and its peak so far (VmHWM). */
function memMiB(pid: number): { rss: number; peak: number } {
  try {
    const f = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(f)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
  } catch {
    return { rss: NaN, peak: NaN };
  }
}

/** CPU seconds (user + system) of a process from /proc, 0 when it is gone. */
function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}
/** PostgreSQL's postmaster and every process it started (backends, WAL writer, checkpointer, …). */
function pgPids(): number[] {
  if (!pgc) return [];
  const master = Number(readFileSync(join(pgc.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const out = [master];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(f.slice(f.lastIndexOf(')') + 2).split(' ')[1]) === master) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}
function cpuNow(): Record<string, number> {
  const self = process.cpuUsage();
  const r: Record<string, number> = {};
  servers.forEach((x, i) => (r[`server${i + 1}`] = cpuSeconds(x.pid)));
  if (pgc) r.postgres = pgPids().reduce((t, p) => t + cpuSeconds(p), 0);
  r.load = (self.user + self.system) / 1e6;
  return r;
}

async function run(size: number, replicas = 1) {
  const body = batch(size);
  const cpu0 = cpuNow();
  const t0 = performance.now();
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
  const wall = (performance.now() - t0) / 1000;
  const cpu1 = cpuNow();
  cpuRows.push({ size, replicas, ...Object.fromEntries(Object.keys(cpu1).map((k) => [`${k} cores`, ((cpu1[k]! - (cpu0[k] ?? 0)) / wall).toFixed(2)])), 'total cores': (Object.keys(cpu1).reduce((t, k) => t + cpu1[k]! - (cpu0[k] ?? 0), 0) / wall).toFixed(2) });
  lat.sort((a, b) => a - b);
  const p = (q: number) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))]!.toFixed(2);
  return { size, replicas, eventsPerSec: Math.round(accepted / seconds), requestsPerSec: Math.round(requests / seconds), p50ms: p(0.5), p99ms: p(0.99) };
}
const cpuRows: Array<Record<string, unknown>> = [];

console.log(
  `ingest benchmark: quietwatch serve in its own process; ${concurrency} concurrent clients, ${seconds}s per case, 20 checks on one stream, ` +
    (pgc ? 'PostgreSQL (a local throwaway cluster; 202 = committed to the relay, applied by the leader)' : 'SQLite on disk (WAL)'),
);
const atStart = memMiB(servers[0]!.pid);
const rows = [await run(1), await run(1000)];
// The memory the Kubernetes requests come from (docs/deploy.md): resident after start, and the peak
// while taking the load above (VmHWM: the process's high-water mark, not a sample).
const afterLoad = memMiB(servers[0]!.pid);
/** PostgreSQL: how long until the leader has applied everything accepted (the relay is empty). */
async function drained(): Promise<number> {
  const t0 = performance.now();
  while (Number(pgc!.psql('SELECT count(*) FROM ingest_batches', 'quietwatch')) > 0) await new Promise((r) => setTimeout(r, 100));
  return Math.round(performance.now() - t0);
}
const drain: Record<string, number> = {};
const turns: Array<{ round: number; replicas: number; eventsPerSec: number; totalCores: string; drainedMs: number }> = [];
if (pgc) {
  drain['1 replica'] = await drained();
  servers.push(await startServer());
  urls = servers.map((x) => x.url);
  rows.push(await run(1000, 2));
  drain['2 replicas'] = await drained();
  // One replica taking the load (the second idles as a follower) and both, in turn.
  for (let round = 1; round <= Number(values.rounds); round++) {
    for (const n of [1, 2]) {
      urls = servers.slice(0, n).map((x) => x.url);
      const r = await run(1000, n);
      turns.push({ round, replicas: n, eventsPerSec: r.eventsPerSec, totalCores: String(cpuRows.pop()!['total cores']), drainedMs: await drained() });
    }
  }
}
console.table(rows);
console.log(`server memory (MiB): ${atStart.rss.toFixed(0)} resident after start, ${afterLoad.rss.toFixed(0)} after the load, ${afterLoad.peak.toFixed(0)} at peak (VmHWM)`);
console.log(`CPU per process during each case (cores = CPU seconds / wall seconds; this machine has ${(await import('node:os')).availableParallelism()}):`);
console.table(cpuRows);
if (pgc) {
  console.log(`ms after the load until the leader had applied every accepted event: ${JSON.stringify(drain)}`);
  console.log('batches of 1,000, one and two replicas in turn:');
  console.table(turns);
  const median = (n: number) => {
    const v = turns.filter((t) => t.replicas === n).map((t) => t.eventsPerSec).sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)]!;
  };
  console.log(`median events/s: one replica ${median(1)}, two replicas ${median(2)} (${Math.round((100 * median(2)) / median(1))}% of one)`);
}
for (const x of servers) x.kill();
agent.destroy();
if (pgc) {
  // The leader's apply rate alone: 200,000 events relayed (batches of 1,000, as followers commit
  // them) while no replica runs, then one replica starts, leads and applies them.
  const { createStores } = await import('../src/store/index.ts');
  const { EventRelay } = await import('../src/ha/relay.ts');
  await new Promise((r) => setTimeout(r, 1000)); // the servers' lease released
  const st = await createStores({ path: '', url: pgc.url });
  const relay = new EventRelay({ db: st.pg!, replica: 'bench' });
  const now = Date.now();
  const events = Array.from({ length: 1000 }, (_, i) => ({ stream: 'auth', arrivedAt: now, time: now, id: `t${i}`, attributes: { scheme: `s${i % 4}`, region: `r${i % 5}`, amount: 1234 } }));
  const N = 200_000;
  for (let i = 0; i < N / 1000; i++) await relay.append(events);
  await st.close();
  // Timed from the first batch gone (the leader applying) to the last, by the rows left.
  const left = () => Number(pgc.psql('SELECT count(*) FROM ingest_batches', 'quietwatch'));
  const leader = await startServer();
  let first: { at: number; rows: number } | undefined;
  for (let n = left(); n > 0; n = left()) {
    if (!first && n < N / 1000) first = { at: performance.now(), rows: n };
    await new Promise((r) => setTimeout(r, 10));
  }
  const ms = performance.now() - (first?.at ?? performance.now());
  console.log(`relayed apply: one leader applied ${(first?.rows ?? 0) * 1000} relayed events (of ${N}) in ${Math.round(ms)} ms: ${first ? Math.round((first.rows * 1000) / (ms / 1000)) : 'n/a'} events/s`);
  leader.kill();
}
pgc?.stop();
rmSync(dir, { recursive: true, force: true });
