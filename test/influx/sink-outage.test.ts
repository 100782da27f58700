/**
 * InfluxDB killed mid-run: the sink never throws or blocks its callers, keeps the newest points up to
 * its bound and counts the dropped oldest ones, reports itself degraded; influxd restarted on the same
 * port and data: the buffered points are written and status is ok again.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InfluxSink } from '../../src/metrics/influx.ts';
import { PrometheusSink } from '../../src/metrics/prometheus.ts';
import { FanoutSink, type MetricsSink } from '../../src/metrics/sink.ts';
import { freePort } from '../helpers/process.ts';
import { startGateway, startInfluxd, type Gateway, type InfluxServer } from './server.ts';

const DB = 'outage';
let influx: InfluxServer;
let gw: Gateway;

beforeAll(async () => {
  influx = await startInfluxd();
  await influx.createDatabase(DB);
  gw = await startGateway(influx.url);
});

afterAll(async () => {
  await gw?.close();
  await influx?.stop();
});

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function countSince(since: number): Promise<{ count: number; min: number | null }> {
  const res = await influx.query(`SELECT count("open"), min("open") FROM "qw_incidents" WHERE time >= ${since}ms`, DB);
  const row = res.results[0]!.series?.[0]?.values[0];
  return { count: Number(row?.[1] ?? 0), min: (row?.[2] as number | undefined) ?? null };
}

describe('InfluxSink through an InfluxDB outage', () => {
  it('never blocks or throws, drops the oldest past the bound, says degraded, and resumes', async () => {
    // No flush timer races the test: every flush below is asked for (the interval is an hour).
    const sink = new InfluxSink({ url: gw.url, bucket: DB, flushInterval: '1h', batchSize: 100, maxBufferPoints: 500, maxRetryDelay: '200ms' }).start();
    const prom = new PrometheusSink({ defaultMetrics: false, droppedPoints: () => sink.dropped() });
    const all: MetricsSink = new FanoutSink([sink, prom]);

    // healthy
    const before = Date.now() - 60_000;
    for (let i = 0; i < 50; i++) all.incidents(i, before + i);
    await sink.flush();
    expect(sink.status()).toEqual({ ok: true, buffered: 0, dropped: 0 });
    expect((await countSince(before)).count).toBe(50);

    // outage
    await influx.kill();
    const base = Date.now();
    const t = performance.now();
    for (let i = 0; i < 1000; i++) {
      all.incidents(i, base + i);
      all.events('auth', 1, false, base + i);
      all.lag('auth', 100, base + i);
    }
    const spent = performance.now() - t;
    expect(spent).toBeLessThan(1_000); // 3000 calls, memory only (a few ms; the bound only catches blocking I/O)
    await sink.flush(); // one attempt: fails, never rejects
    await until(() => sink.status().ok === false, 5_000, 'degraded status');
    const degraded = sink.status();
    expect(degraded.reason).toBe('unreachable');
    expect(degraded.lastError).toMatch(/INFLUXDB_HTTP_503/);
    expect(degraded.buffered).toBeLessThanOrEqual(500);
    expect(sink.dropped()).toBeGreaterThanOrEqual(500);
    expect(await prom.metricsText()).toMatch(new RegExp(`quietwatch_metrics_points_dropped_total ${sink.dropped()}`));

    // still failing while down: more flushes keep failing, the buffer stays bounded
    for (let i = 0; i < 3; i++) await sink.flush();
    expect(sink.status().buffered).toBeLessThanOrEqual(500);
    expect(sink.status().ok).toBe(false);

    // recovery on the same port and data dir
    await influx.restart();
    await until(async () => (await sink.flush(), sink.status().ok && sink.status().buffered === 0), 10_000, 'buffer drained after restart');
    const after = await countSince(base);
    // what survived is the newest: the oldest incidents points were the ones dropped
    expect(after.count).toBeGreaterThan(0);
    expect(after.count).toBeLessThanOrEqual(500);
    expect(after.min).toBeGreaterThanOrEqual(500);
    expect((await countSince(before)).count).toBe(50 + after.count);

    // and new points flow again
    const later = Date.now() + 10_000;
    all.incidents(4242, later);
    await sink.flush();
    const res = await influx.query(`SELECT "open" FROM "qw_incidents" WHERE time >= ${later}ms`, DB);
    expect(res.results[0]!.series![0]!.values[0]![1]).toBe(4242);
    expect(sink.status()).toMatchObject({ ok: true, buffered: 0 });
    await sink.close();
  });

  it('reports connection refused as unreachable and keeps going', async () => {
    const port = await freePort(); // nothing listens here
    const sink = new InfluxSink({ url: `http://127.0.0.1:${port}`, bucket: 'x', maxBufferPoints: 10, batchSize: 5, maxRetryDelay: '100ms' });
    for (let i = 0; i < 25; i++) expect(() => sink.health({ component: 'store', ok: true, at: Date.now() + i })).not.toThrow();
    await sink.flush();
    expect(sink.status()).toMatchObject({ ok: false, reason: 'unreachable', buffered: 10, dropped: 15 });
    expect(sink.status().lastError).toMatch(/INFLUXDB_NETWORK|ECONNREFUSED/);
    await sink.close();
  });

  it('drops a batch the server rejects (4xx) and says why', async () => {
    const sink = new InfluxSink({ url: gw.url, bucket: 'no_such_database' });
    sink.incidents(1, Date.now());
    await sink.flush();
    expect(sink.status()).toMatchObject({ ok: false, reason: 'rejected', buffered: 0, dropped: 1 });
    expect(sink.status().lastError).toMatch(/INFLUXDB_HTTP_404.*database not found/);
    await sink.close();
  });

  it('gives up a hung write after its timeout and buffers the points', async () => {
    const sockets = new Set<import('node:net').Socket>();
    const hung = createServer((s) => sockets.add(s)); // accepts, never answers
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    const { port } = hung.address() as { port: number };
    const sink = new InfluxSink({ url: `http://127.0.0.1:${port}`, bucket: 'x', timeout: '300ms', maxRetryDelay: '1s' });
    sink.incidents(1, Date.now());
    const t = Date.now();
    await sink.flush();
    expect(Date.now() - t).toBeLessThan(3_000);
    expect(sink.status()).toMatchObject({ ok: false, reason: 'unreachable', buffered: 1, dropped: 0 });
    await sink.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => hung.close(() => r()));
  });
});
