/**
 * Measures what @influxdata/influxdb-client's own retry buffer does during an InfluxDB outage, next to
 * quietwatch's InfluxSink, on a real influxd (Debian's 1.6 behind the test gateway). The results are
 * recorded in docs/metrics.md ("Why our own buffer").
 *
 *   npx tsx scripts/influx-client-buffer.ts
 *
 * Scenario for both: 1000 points written while influxd is down, a bound of 500 buffered points,
 * outage of `OUTAGE_MS` (longer than the client's maxRetryTime of 3 s here, scaled down from its
 * 180 s default), then influxd is back; how many points arrive, which ones, and how soon.
 */
import { InfluxDB, Point, setLogger } from '@influxdata/influxdb-client';
import { InfluxSink } from '../src/metrics/influx.ts';
import { startGateway, startInfluxd } from '../test/influx/server.ts';

const OUTAGE_MS = 5_000;
const N = 1000;
setLogger({ error: () => {}, warn: () => {} });

const influx = await startInfluxd();
const gw = await startGateway(influx.url);
await influx.createDatabase('client');
await influx.createDatabase('sink');

async function count(db: string): Promise<{ count: number; min: number | null; max: number | null }> {
  const r = await influx.query('SELECT count("v"), min("v"), max("v") FROM "m"', db);
  const row = r.results[0]!.series?.[0]?.values[0];
  return { count: Number(row?.[1] ?? 0), min: (row?.[2] as number) ?? null, max: (row?.[3] as number) ?? null };
}

// -- the client's retry buffer
let skipped = 0;
let failedForGood = 0;
const api = new InfluxDB({ url: gw.url }).getWriteApi('', 'client', 'ms', {
  batchSize: 100,
  flushInterval: 100,
  maxBufferLines: 500,
  maxRetries: 5,
  maxRetryTime: 3_000,
  minRetryDelay: 200,
  maxRetryDelay: 2_000,
  writeRetrySkipped: (e) => void (skipped += e.lines.length),
  writeFailed(_err, lines, attempt, expires) {
    if (attempt > 5 || expires <= Date.now()) failedForGood += lines.length;
  },
});
// -- our sink
const sink = new InfluxSink({ url: gw.url, bucket: 'sink', flushInterval: '100ms', batchSize: 100, maxBufferPoints: 500, maxRetryDelay: '2s' }).start();

await influx.kill();
const t0 = Date.now();
for (let i = 0; i < N; i++) {
  api.writePoint(new Point('m').intField('v', i).timestamp(t0 + i));
  sink.incidents(i, t0 + i); // qw_incidents "open" = i
}
await new Promise((r) => setTimeout(r, OUTAGE_MS));
await influx.restart();
const back = Date.now();
let clientFirst: number | undefined;
let sinkFirst: number | undefined;
for (let waited = 0; waited < 15_000 && (!clientFirst || !sinkFirst); waited += 100) {
  await new Promise((r) => setTimeout(r, 100));
  if (!clientFirst && (await count('client')).count > 0) clientFirst = Date.now() - back;
  const s = await influx.query('SELECT count("open") FROM "qw_incidents"', 'sink');
  if (!sinkFirst && s.results[0]!.series) sinkFirst = Date.now() - back;
}
await api.flush(true).catch(() => {});
await sink.flush();
const c = await count('client');
const sr = await influx.query('SELECT count("open"), min("open"), max("open") FROM "qw_incidents"', 'sink');
const srow = sr.results[0]!.series?.[0]?.values[0] ?? [];
console.log(
  JSON.stringify(
    {
      outageMs: OUTAGE_MS,
      written: N,
      client: { arrived: c.count, oldestKept: c.min, newestKept: c.max, skippedByBufferBound: skipped, droppedAfterRetries: failedForGood, firstArrivalAfterRecoveryMs: clientFirst ?? null },
      sink: { arrived: srow[1] ?? 0, oldestKept: srow[2] ?? null, newestKept: srow[3] ?? null, dropped: sink.dropped(), firstArrivalAfterRecoveryMs: sinkFirst ?? null },
    },
    null,
    2,
  ),
);
api.dispose();
await sink.close();
await gw.close();
await influx.stop();
