/**
 * Ingest throughput: events/s accepted by POST /v1/events over real HTTP on loopback, for batches of
 * 1 and of 1,000 events, against a real service with a SQLite store on disk. Prints figures; not a test.
 *   npm run bench:ingest [-- --seconds 5 --concurrency 8]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config/load.ts';
import { silentLogger } from '../src/lib/logger.ts';
import { createService } from '../src/main.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '8' } } });
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);

const dir = mkdtempSync(join(tmpdir(), 'qw-bench-'));
const checks = Array.from({ length: 20 }, (_, i) => `  - { name: c${i}, stream: auth, match: { scheme: s${i % 4}, region: r${i % 5} }, quietAfter: 30s, pageAfter: 2m }`).join('\n');
const config = parseConfig(`server: { port: 0, bodyLimit: 10485760 }\nstore: { path: ${join(dir, 'b.sqlite')} }\nchecks:\n${checks}\n`, '<bench>', {});
const svc = await createService(config, { logger: silentLogger() });
const url = await svc.listen();

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
        const res = await fetch(`${url}/v1/events`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
        const j = (await res.json()) as { accepted: number };
        if (res.status !== 202) throw new Error(`status ${res.status}`);
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

console.log(`ingest benchmark: ${concurrency} connections, ${seconds}s per case, 20 checks on one stream, SQLite on disk (WAL)`);
const rows = [await run(1), await run(1000)];
console.table(rows);
await svc.close();
rmSync(dir, { recursive: true, force: true });
