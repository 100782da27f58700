/**
 * Outage storms: N checks each get one event, then all go silent at once (every check down in the
 * same second), then traffic returns to all of them (the resolve storm). Against the real service
 * (`quietwatch serve`, its own process, SQLite on disk), with a PagerDuty contract server and a signed
 * webhook receiver on the page route, both in this process. Prints figures; not a test.
 *
 *   npm run bench:storm -- --checks 1000,10000,100000 [--group route|none]
 *
 * Per size: start-up (spawn -> /healthz 200), RSS at rest / after the storm (and bytes per check beyond
 * the empty service, measured first in the same run), flip lag (log time - the flip's deadline),
 * page lag (when PagerDuty first had the check, in its own incident or as a member of a group's,
 * minus the check's deadline), /healthz p99/max during each storm, PagerDuty requests in the first
 * minute, and the time SIGTERM takes to end the process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { parse as parseYaml } from 'yaml';
import { startPagerDutyContract, type PagerDutyContract } from '../test/contract/pagerduty.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../test/contract/webhook-receiver.ts';

const { values } = parseArgs({
  options: {
    checks: { type: 'string', default: '1000,10000,100000' },
    group: { type: 'string', default: 'route' },
    /** Give up waiting for a storm after this many seconds past the last deadline. */
    patience: { type: 'string', default: '60' },
    resolve: { type: 'boolean', default: true },
  },
});
const sizes = values.checks!.split(',').map((s) => Number(s.trim())).filter((n) => n > 0);
const grouped = values.group !== 'none';
const patienceMs = Number(values.patience) * 1000;
const PD_KEY = 'R0UT1NGKEY0123456789ABCDEFGHIJKL';
const HOOK_SECRET = 'bench-webhook-secret-0123456789';
const bin = fileURLToPath(new URL('../bin/quietwatch.js', import.meta.url));

const maxOf = (xs: number[]) => xs.reduce((a, b) => Math.max(a, b), -Infinity);
const minOf = (xs: number[]) => xs.reduce((a, b) => Math.min(a, b), Infinity);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const fmtMs = (x: number) => (Number.isNaN(x) ? '—' : x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${Math.round(x)} ms`);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
}

function limitsFor(n: number): { quiet: number; page: number } {
  // Posting 100,000 events takes a few seconds on this machine: the deadlines must come after that.
  return n >= 50_000 ? { quiet: 60_000, page: 90_000 } : { quiet: 5_000, page: 8_000 };
}

function configYaml(dir: string, port: number, n: number, pd: PagerDutyContract, hook: WebhookReceiver): string {
  const { quiet, page } = limitsFor(n);
  const lines = [
    `server: { port: ${port}, bodyLimit: 52428800 }`,
    `store: { path: ${join(dir, 'storm.sqlite')} }`,
    `sandbox: { enabled: false }`,
    `alerts:`,
    `  notifiers:`,
    `    pd: { type: pagerduty, routingKey: ${PD_KEY}, eventsUrl: "${pd.url}", source: bench, timeoutMs: 5000 }`,
    `    hook: { type: webhook, url: "${hook.url}", secret: ${HOOK_SECRET}, timeoutMs: 5000 }`,
    `  routes: { default: { warning: [], page: [pd, hook] } }`,
    `  retry: { minDelay: 200ms, maxDelay: 5s }`,
    ...(grouped ? [] : [`  group: { by: none }`]),
    `checks:`,
  ];
  const schemes = ['visa', 'mastercard'];
  for (let i = 0; i < n; i++) {
    lines.push(`  - { name: c${i}, stream: s${i}, quietAfter: ${quiet}ms, pageAfter: ${page}ms, labels: { scheme: ${schemes[i % 2]}, region: r${i % 5} } }`);
  }
  if (n === 0) lines[lines.length - 1] = 'checks: []';
  return lines.join('\n') + '\n';
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

interface Flip {
  check: string;
  to: string;
  at: number;
  loggedAt: number;
}

class Service {
  child!: ChildProcess;
  flips: Flip[] = [];
  url = '';
  #buf = '';
  startupMs = NaN;
  exitCode: number | null = null;

  async start(dir: string, yaml: string, port: number): Promise<void> {
    // Written as JSON (which is YAML): generated configs of 100,000 checks skip the slow YAML parser (12 s -> 2 s).
    writeFileSync(join(dir, 'storm.json'), JSON.stringify(parseYaml(yaml)));
    this.url = `http://127.0.0.1:${port}`;
    const t0 = Date.now();
    // STORM_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the service.
    const nodeArgs = (process.env.STORM_NODE_ARGS ?? '').split(' ').filter(Boolean);
    this.child = spawn(process.execPath, [...nodeArgs, bin, 'serve', '--config', join(dir, 'storm.json')], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, QUIETWATCH_LOG_LEVEL: 'info' },
    });
    // STORM_SERVICE_LOG=/tmp/storm.log keeps the service's stdout (e.g. with STORM_NODE_ARGS=--trace-gc).
    const tee = process.env.STORM_SERVICE_LOG ? createWriteStream(process.env.STORM_SERVICE_LOG) : undefined;
    this.child.on('exit', (c) => {
      this.exitCode = c ?? -1;
      tee?.end();
    });
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (d: string) => {
      tee?.write(d);
      this.#lines(d);
    });
    for (;;) {
      if (this.exitCode !== null) throw new Error('service exited during start-up');
      try {
        if ((await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(1000) })).ok) break;
      } catch {
        /* not yet */
      }
      await sleep(20);
    }
    this.startupMs = Date.now() - t0;
  }

  #lines(d: string): void {
    this.#buf += d;
    let i: number;
    while ((i = this.#buf.indexOf('\n')) >= 0) {
      const line = this.#buf.slice(0, i);
      this.#buf = this.#buf.slice(i + 1);
      if (!line.includes('" -> ') && !line.includes(' -> ')) continue;
      try {
        const j = JSON.parse(line) as { check?: string; checks?: string[]; to?: string; at?: string; time?: string; msg?: string };
        if (j.check && j.to && j.at && j.msg?.startsWith('check ')) this.flips.push({ check: j.check, to: j.to, at: Date.parse(j.at), loggedAt: Date.parse(j.time!) });
        // A storm's flips are logged one line per transition and batch ("1,000 checks: quiet -> down"),
        // with the batch's first deadline: each check's lag is taken from that one (an upper bound).
        else if (j.checks && j.to && j.at && / checks: \w+ -> \w+$/.test(j.msg ?? '')) {
          const at = Date.parse(j.at);
          const loggedAt = Date.parse(j.time!);
          for (const check of j.checks) this.flips.push({ check, to: j.to, at, loggedAt });
        }
      } catch {
        /* not a flip line */
      }
    }
  }

  async stop(): Promise<number> {
    const t0 = Date.now();
    if (this.exitCode !== null) return 0;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    const done = await Promise.race([exited.then(() => true), sleep(20_000).then(() => false)]);
    if (!done) {
      this.child.kill('SIGKILL');
      await exited;
      return Infinity;
    }
    return Date.now() - t0;
  }
}

const agent = new Agent({ keepAlive: true, maxSockets: 4 });
/** POST /v1/events, retried when a kept-alive socket was closed under us. */
async function post(url: string, body: string): Promise<number> {
  for (let i = 0; ; i++) {
    try {
      return await post1(url, body);
    } catch (err) {
      if (i >= 5 || /no answer/.test((err as Error).message)) throw err;
      await sleep(100);
    }
  }
}
function post1(url: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/events`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(patienceMs, () => req.destroy(new Error(`no answer within ${patienceMs / 1000} s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** One event per check, 2,500 per request, 4 requests in flight; returns when each check's event was accepted (NaN: never). */
async function sendEvents(url: string, n: number): Promise<number[]> {
  const accepted: number[] = new Array(n).fill(NaN);
  const BATCH = 2500;
  const starts: number[] = [];
  for (let from = 0; from < n; from += BATCH) starts.push(from);
  let giveUp = false;
  const worker = async () => {
    for (;;) {
      const from = starts.shift();
      if (from === undefined || giveUp) return;
      const to = Math.min(n, from + BATCH);
      const now = Date.now();
      const batch = [];
      for (let i = from; i < to; i++) batch.push({ stream: `s${i}`, time: now });
      try {
        const status = await post(url, JSON.stringify(batch));
        if (status !== 202 && status !== 200) throw new Error(`POST /v1/events answered ${status}`);
      } catch (err) {
        console.error(`events not accepted: ${(err as Error).message}`);
        giveUp = true;
        return;
      }
      const t = Date.now();
      for (let i = from; i < to; i++) accepted[i] = t;
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return accepted;
}

/**
 * Poll /healthz back to back (one in flight, 20 ms apart) until stopped; latencies in ms (a timeout
 * counts as 5 s). From a worker thread: its own event loop, so the bench's own work (parsing the
 * service's log, the contract servers, building request bodies) never delays a poll.
 */
function pollHealth(url: string): { stop: () => Promise<number[]> } {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const lat = [];
    let running = true;
    parentPort.on('message', () => { running = false; });
    (async () => {
      while (running) {
        const t0 = performance.now();
        try {
          await (await fetch(workerData + '/healthz', { signal: AbortSignal.timeout(5000) })).text();
        } catch {}
        lat.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 20));
      }
      parentPort.postMessage(lat);
    })();
  `;
  const w = new Worker(code, { eval: true, workerData: url });
  const done = new Promise<number[]>((resolve, reject) => {
    w.once('message', (lat: number[]) => resolve(lat));
    w.once('error', reject);
  });
  return {
    stop: async () => {
      w.postMessage('stop');
      const lat = await done;
      await w.terminate();
      return lat;
    },
  };
}

interface PdSeen {
  /** check -> when PagerDuty first had it down (own incident or listed in a group's). */
  down: Map<string, number>;
  resolved: Map<string, number>;
}

/** Read PagerDuty's requests: which checks each trigger covers, when each was resolved. */
function readPd(pd: PagerDutyContract): PdSeen {
  const down = new Map<string, number>();
  const resolved = new Map<string, number>();
  const keyChecks = new Map<string, string[]>();
  pd.requests.forEach((r, i) => {
    const e = r as { event_action: string; dedup_key: string; payload?: { custom_details?: Record<string, unknown> } };
    const t = pd.requestTimes[i]!;
    if (e.event_action === 'trigger') {
      const cd = e.payload?.custom_details ?? {};
      const extra = (cd.extra ?? {}) as { group?: { members?: { check: string; status: string }[]; downTotal?: number }; memberOrder?: string };
      const members = extra.group?.members;
      const checks = members ? members.filter((m) => m.status === 'down').map((m) => m.check) : [String(cd.check)];
      // A big group lists its first members by name and the rest by count (down members in the order they went down).
      const total = extra.group?.downTotal ?? checks.length;
      keyChecks.set(e.dedup_key, checks);
      for (const c of checks) if (!down.has(c)) down.set(c, t);
      (down as Map<string, number> & { counts?: [number, number][] }).counts ??= [];
      (down as Map<string, number> & { counts?: [number, number][] }).counts!.push([t, total]);
    } else if (e.event_action === 'resolve') {
      resolved.set(e.dedup_key, t);
    }
  });
  return { down, resolved };
}

interface Result {
  n: number;
  startupMs: number;
  rssRest: number;
  rssAfter: number;
  flipLag: number[];
  pageLag: number[];
  health: number[];
  pdFirstMinute: number;
  incidents: number;
  resolveFlipLag: number[];
  resolveLag: number[];
  resolveHealth: number[];
  sigtermMs: number;
  missingPages: number;
  missingResolves: number;
}

async function runOne(n: number, baseRss: number): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'qw-storm-'));
  const pd = await startPagerDutyContract({ validKeys: [PD_KEY] });
  const hook = await startWebhookReceiver({ secret: HOOK_SECRET });
  const svc = new Service();
  const port = await freePort();
  try {
    await svc.start(dir, configYaml(dir, port, n, pd, hook), port);
    await sleep(500);
    const rssRest = rssBytes(svc.child.pid!);
    const { page } = limitsFor(n);
    const accepted = await sendEvents(svc.url, n);
    // Each check's page deadline: its event's arrival + pageAfter (the flip log gives the exact one).
    const ok = accepted.filter((t) => !Number.isNaN(t));
    const firstDeadline = minOf(ok) + page;
    const lastDeadline = maxOf(ok) + page;
    await sleep(Math.max(0, firstDeadline - Date.now() - 1000));
    const poll = pollHealth(svc.url);
    const until = lastDeadline + patienceMs;
    const downFlips = () => svc.flips.filter((f) => f.to === 'down');
    for (;;) {
      const seen = readPd(pd);
      if (downFlips().length >= n && seen.down.size >= n) break;
      if (grouped && downFlips().length >= n && (seen.down as { counts?: [number, number][] }).counts?.some(([, c]) => c >= n)) break;
      if (Date.now() > until) break;
      await sleep(100);
    }
    await sleep(1000);
    const health = await poll.stop();
    const rssAfter = rssBytes(svc.child.pid!);
    const flips = downFlips();
    const deadline = new Map(flips.map((f) => [f.check, f.at]));
    const seen = readPd(pd);
    const pageLag: number[] = [];
    const counts = (seen.down as { counts?: [number, number][] }).counts ?? [];
    if (grouped) {
      // Member k (in deadline order) is in the page from the first request listing at least k+1 down.
      const order = [...deadline.entries()].sort((a, b) => a[1] - b[1]);
      let j = 0;
      order.forEach(([c, at], k) => {
        const named = seen.down.get(c);
        while (j < counts.length && counts[j]![1] < k + 1) j++;
        const t = Math.min(named ?? Infinity, j < counts.length ? counts[j]![0] : Infinity);
        if (t !== Infinity) pageLag.push(t - at);
      });
    } else {
      for (const [c, at] of deadline) {
        const t = seen.down.get(c);
        if (t !== undefined) pageLag.push(t - at);
      }
    }
    const flipLag = flips.map((f) => f.loggedAt - f.at);
    // The first minute of the storm starts at its first deadline (the earliest flip's time).
    const stormStart = flips.length ? minOf(flips.map((f) => f.at)) : firstDeadline;
    const pdFirstMinute = pd.requestTimes.filter((t) => t >= stormStart && t < stormStart + 60_000).length;
    const incidents = pd.incidentsOpened();
    // How the storm unfolded: the deadlines' spread (set by how fast the events went in) and each PagerDuty request.
    if (flips.length) {
      const ats = flips.map((f) => f.at);
      const t0 = minOf(ats);
      const timeline = counts.map(([t, c]) => `+${((t - t0) / 1000).toFixed(1)} s: ${c.toLocaleString('en')}`).join(', ');
      console.log(`  ${n.toLocaleString('en')}: deadlines over ${fmtMs(maxOf(ats) - t0)}; PagerDuty triggers (checks down listed): ${timeline}`);
    }
    const missingPages = n - pageLag.length;

    let resolveFlipLag: number[] = [];
    const resolveLag: number[] = [];
    let resolveHealth: number[] = [];
    let missingResolves = 0;
    if (values.resolve && n > 0) {
      const poll2 = pollHealth(svc.url);
      const before = svc.flips.length;
      const tBack = Date.now();
      await sendEvents(svc.url, n);
      const openKeys = () => [...pd.alerts.values()].filter((a) => a.status !== 'resolved').length;
      const until2 = Date.now() + patienceMs;
      while (Date.now() < until2 && (svc.flips.slice(before).filter((f) => f.to === 'ok').length < n || openKeys() > 0)) await sleep(100);
      await sleep(1000);
      resolveHealth = await poll2.stop();
      const okFlips = svc.flips.slice(before).filter((f) => f.to === 'ok');
      resolveFlipLag = okFlips.map((f) => f.loggedAt - f.at);
      const seen2 = readPd(pd);
      for (const t of seen2.resolved.values()) resolveLag.push(t - tBack);
      missingResolves = openKeys();
    }
    const sigtermMs = await svc.stop();
    return {
      n,
      startupMs: svc.startupMs,
      rssRest: rssRest - baseRss,
      rssAfter: rssAfter - baseRss,
      flipLag,
      pageLag,
      health,
      pdFirstMinute,
      incidents,
      resolveFlipLag,
      resolveLag,
      resolveHealth,
      sigtermMs,
      missingPages,
      missingResolves,
    };
  } finally {
    if (svc.exitCode === null) svc.child?.kill('SIGKILL');
    await pd.close();
    await hook.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function emptyRss(): Promise<{ rss: number; startupMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'qw-storm-'));
  const pd = await startPagerDutyContract({ validKeys: [PD_KEY] });
  const hook = await startWebhookReceiver({ secret: HOOK_SECRET });
  const svc = new Service();
  const port = await freePort();
  try {
    await svc.start(dir, configYaml(dir, port, 0, pd, hook), port);
    await sleep(500);
    const rss = rssBytes(svc.child.pid!);
    await svc.stop();
    return { rss, startupMs: svc.startupMs };
  } finally {
    if (svc.exitCode === null) svc.child?.kill('SIGKILL');
    await pd.close();
    await hook.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A fixed piece of the storm's own work, timed in this process: 100,000 JSON check states upserted
 * into a SQLite file in 1,000-row transactions. This shared 2-core machine's speed varies by ±40%
 * from hour to hour; printed before and after the runs (with the load average) so that figures
 * of different runs can be compared.
 */
function machineSpeed(): string {
  const dir = mkdtempSync(join(tmpdir(), 'qw-speed-'));
  try {
    const db = new BetterSqlite3(join(dir, 'speed.sqlite'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec('CREATE TABLE check_state (name TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at INTEGER NOT NULL)');
    const up = db.prepare('INSERT INTO check_state (name, state, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at');
    const tx = db.transaction((k: number) => {
      for (let i = k * 1000; i < k * 1000 + 1000; i++) {
        const at = 1_796_320_000_000 + i;
        up.run(`c${i}`, JSON.stringify({ status: 'down', since: at, lastEventAt: at, lastEventTime: at, lastProofAt: null, watchFrom: at, probe: null, quietStreak: 0, downs: [at], heldUntil: null, held: false }), at);
      }
    });
    const t0 = performance.now();
    for (let k = 0; k < 100; k++) tx(k);
    const ms = performance.now() - t0;
    db.close();
    return `machine: ${Math.round(ms)} ms for the reference work (100,000 JSON states upserted into SQLite; lower is faster), load average ${loadavg()[0]!.toFixed(2)}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(machineSpeed());
const empty = await emptyRss();
const base = empty.rss;
console.log(`empty service: RSS ${(base / 1e6).toFixed(0)} MB, start-up ${fmtMs(empty.startupMs)}; grouping: ${grouped ? 'by route (default)' : 'none'}`);
const rows: string[] = [];
rows.push('| checks | start-up | RSS/check at rest / after | flip lag p50/p99/max | page lag p50/p99/max | /healthz p99/max | PD requests 1st min (incidents) | resolve: flip lag p99, last resolve, /healthz p99/max | SIGTERM |');
rows.push('|---|---|---|---|---|---|---|---|---|');
for (const n of sizes) {
  const r = await runOne(n, base);
  const three = (xs: number[]) => `${fmtMs(pct(xs, 50))} / ${fmtMs(pct(xs, 99))} / ${fmtMs(maxOf(xs))}`;
  const row = `| ${n.toLocaleString('en')} | ${fmtMs(r.startupMs)} | ${Math.round(r.rssRest / n)} B / ${Math.round(r.rssAfter / n)} B | ${three(r.flipLag)}${r.flipLag.length < n ? ` (${n - r.flipLag.length} missing)` : ''} | ${three(r.pageLag)}${r.missingPages ? ` (${r.missingPages} never paged)` : ''} | ${fmtMs(pct(r.health, 99))} / ${fmtMs(maxOf(r.health))} | ${r.pdFirstMinute} (${r.incidents}) | ${fmtMs(pct(r.resolveFlipLag, 99))}, ${fmtMs(maxOf(r.resolveLag))}${r.missingResolves ? ` (${r.missingResolves} unresolved)` : ''}, ${fmtMs(pct(r.resolveHealth, 99))} / ${fmtMs(maxOf(r.resolveHealth))} | ${r.sigtermMs === Infinity ? 'ignored (20 s)' : fmtMs(r.sigtermMs)} |`;
  console.log(row);
  rows.push(row);
}
console.log(machineSpeed());
console.log('\n' + rows.join('\n'));
await agent.destroy();
