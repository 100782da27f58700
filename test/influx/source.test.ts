/**
 * InfluxDB-fed checks against a real influxd: the newest point's time is reported when it advances,
 * nothing when points stop, again when they resume; tag filters and names are escaped; history counts.
 */
import { Point } from '@influxdata/influxdb-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.ts';
import { PermanentError, RetryableError, type QuietwatchError } from '../../src/lib/errors.ts';
import { Secret } from '../../src/lib/secret.ts';
import { InfluxSource, influxSourceSchema, type InfluxFedCheck } from '../../src/sources/influx.ts';
import { freePort } from '../helpers/process.ts';
import { startInfluxd, type InfluxServer } from './server.ts';

const DB = 'pipeline';
let influx: InfluxServer;

beforeAll(async () => {
  influx = await startInfluxd();
  await influx.createDatabase(DB);
});
afterAll(async () => {
  await influx?.stop();
});

/** Write points through the v1 /write endpoint (ms precision). */
async function write(points: Point[]): Promise<void> {
  const body = points.map((p) => p.toLineProtocol({ convertTime: (t: unknown) => String(t) } as never)).join('\n');
  const res = await fetch(`${influx.url}/write?db=${DB}&precision=ms`, { method: 'POST', body });
  if (res.status !== 204) throw new Error(`write failed ${res.status}: ${await res.text()}`);
}

const authPoint = (t: number, region = 'eu', amount = 1) => new Point('card_auth').tag('region', region).tag('acquirer', 'acme').floatField('amount', amount).intField('n', 1).timestamp(t);

function check(name: string, source: Record<string, unknown>): InfluxFedCheck {
  return { name, source: influxSourceSchema.parse({ type: 'influxdb', url: influx.url, database: DB, pollInterval: '1s', ...source }) };
}

function recorder() {
  const calls: [string, number][] = [];
  return { calls, onAdvance: (c: string, t: number) => void calls.push([c, t]) };
}

describe('InfluxSource', () => {
  it('reports the newest point time when it advances, nothing while points stop, and again when they resume', async () => {
    const base = Date.now() - 60_000;
    await write([authPoint(base), authPoint(base + 1000), authPoint(base + 5000, 'us')]);
    const r = recorder();
    const src = new InfluxSource([check('eu-auth', { measurement: 'card_auth', field: 'amount', where: { region: 'eu' } })], r.onAdvance);
    expect(await src.poll('eu-auth')).toBe(base + 1000);
    expect(r.calls).toEqual([['eu-auth', base + 1000]]); // the newer 'us' point is another check's

    // points stop: no advance
    expect(await src.poll('eu-auth')).toBe(base + 1000);
    expect(r.calls).toHaveLength(1);

    // resume
    await write([authPoint(base + 2000)]);
    await src.poll('eu-auth');
    expect(r.calls).toEqual([
      ['eu-auth', base + 1000],
      ['eu-auth', base + 2000],
    ]);
    // an older, late point does not move the time backwards
    await write([authPoint(base + 1500)]);
    await src.poll('eu-auth');
    expect(r.calls).toHaveLength(2);
    expect(src.lastPointTime('eu-auth')).toBe(base + 2000);
  });

  it('polls on its own with start() and stops with stop()', async () => {
    const base = Date.now() - 30_000;
    await write([new Point('heartbeat').tag('job', 'settle').intField('n', 1).timestamp(base)]);
    const r = recorder();
    const src = new InfluxSource([check('settle', { measurement: 'heartbeat', field: 'n', where: { job: 'settle' }, pollInterval: '1s' })], r.onAdvance);
    src.start();
    try {
      await waitFor(() => r.calls.length === 1, 3_000);
      expect(r.calls[0]).toEqual(['settle', base]);
      await new Promise((res) => setTimeout(res, 1_300)); // another poll: nothing new
      expect(r.calls).toHaveLength(1);
      await write([new Point('heartbeat').tag('job', 'settle').intField('n', 1).timestamp(base + 10_000)]);
      await waitFor(() => r.calls.length === 2, 3_000);
      expect(r.calls[1]).toEqual(['settle', base + 10_000]);
    } finally {
      src.stop();
    }
    const n = r.calls.length;
    await write([new Point('heartbeat').tag('job', 'settle').intField('n', 1).timestamp(base + 20_000)]);
    await new Promise((res) => setTimeout(res, 1_300));
    expect(r.calls).toHaveLength(n);
  });

  it('queries one field, so a measurement with several fields reports the real time (not 0 as last(*) does on 1.x)', async () => {
    const t = Date.now() - 5_000;
    await write([new Point('multi').tag('k', 'v').floatField('a', 1).intField('b', 2).stringField('c', 'x').timestamp(t)]);
    const lastStar = await influx.query('SELECT last(*) FROM "multi"', DB);
    expect(lastStar.results[0]!.series![0]!.values[0]![0]).toBe(0); // the 1.x pitfall, on the real server
    const r = recorder();
    const src = new InfluxSource([check('multi', { measurement: 'multi', field: 'b', where: { k: 'v' } })], r.onAdvance);
    await src.poll('multi');
    expect(r.calls).toEqual([['multi', t]]);
  });

  it('escapes names and tag values: quotes cannot inject a condition', async () => {
    const t = Date.now() - 4_000;
    await write([
      new Point('we"ird meas').tag("acq'uirer", "o'brien \\ co").tag('x', 'y').floatField('am"t', 1).timestamp(t),
      new Point('we"ird meas').tag("acq'uirer", 'other').tag('x', 'y').floatField('am"t', 1).timestamp(t + 500),
    ]);
    const r = recorder();
    const src = new InfluxSource(
      [
        check('weird', { measurement: 'we"ird meas', field: 'am"t', where: { "acq'uirer": "o'brien \\ co" } }),
        check('inject', { measurement: 'we"ird meas', field: 'am"t', where: { "acq'uirer": "nobody' OR \"x\" = 'y" } }),
        check('inject2', { measurement: 'we"ird meas', field: 'am"t', where: { 'x" = \'y\' OR "x': 'z' } }),
      ],
      r.onAdvance,
      { onError: (c, e) => r.calls.push([`error:${c}:${e.message}`, 0]) },
    );
    expect(await src.poll('weird')).toBe(t);
    expect(await src.poll('inject')).toBeUndefined();
    expect(await src.poll('inject2')).toBeUndefined();
    expect(r.calls).toEqual([['weird', t]]);
  });

  it('honours the lookback window', async () => {
    const old = Date.now() - 3 * 3_600_000;
    await write([new Point('sparse').tag('k', 'v').intField('n', 1).timestamp(old)]);
    const r = recorder();
    const src = new InfluxSource(
      [check('recent', { measurement: 'sparse', field: 'n', where: { k: 'v' }, lookback: '1h' }), check('ever', { measurement: 'sparse', field: 'n', where: { k: 'v' } })],
      r.onAdvance,
    );
    expect(await src.poll('recent')).toBeUndefined();
    expect(await src.poll('ever')).toBe(old);
  });

  it('seeds history: points per 5-minute bucket', async () => {
    const start = Math.floor((Date.now() - 40 * 60_000) / 300_000) * 300_000;
    const pts: Point[] = [];
    for (let i = 0; i < 12; i++) pts.push(new Point('hist').tag('k', 'v').intField('n', 1).timestamp(start + i * 150_000)); // 2 per 5 min
    pts.push(new Point('hist').tag('k', 'other').intField('n', 1).timestamp(start + 1));
    await write(pts);
    const src = new InfluxSource([check('hist', { measurement: 'hist', field: 'n', where: { k: 'v' } })], () => {});
    const buckets = await src.seedHistory('hist', start, { until: start + 30 * 60_000 });
    expect(buckets).toHaveLength(6);
    expect(buckets.map((b) => b.count)).toEqual([2, 2, 2, 2, 2, 2]);
    expect(buckets[0]!.start).toBe(start);
    expect(buckets[1]!.start - buckets[0]!.start).toBe(300_000);
  });

  it('counts the points of each polled interval once it is countDelay old: contiguous, none twice, a failed count retried', async () => {
    const base = Math.floor(Date.now() / 1000) * 1000 - 120_000;
    const pts: Point[] = [];
    for (let i = 0; i < 10; i++) pts.push(new Point('cnt').tag('k', 'v').intField('n', 1).timestamp(base + i * 1000)); // 10 in [0, 10 s)
    for (let i = 0; i < 5; i++) pts.push(new Point('cnt').tag('k', 'v').intField('n', 1).timestamp(base + 10_000 + i * 2000)); // 5 in [10, 20 s)
    pts.push(new Point('cnt').tag('k', 'other').intField('n', 1).timestamp(base + 1)); // another check's
    await write(pts);
    const clock = new ManualClock(base + 10_000 + 5_000);
    const counts: Array<[string, number, number, number]> = [];
    let failNext = false;
    const src = new InfluxSource([check('cnt', { measurement: 'cnt', field: 'n', where: { k: 'v' }, countDelay: '5s' })], () => {}, {
      clock,
      onCounts: (c, from, to, n) => void counts.push([c, from, to, n]),
      fetch: async (url, init) => {
        if (failNext && decodeURIComponent(String(url)).includes('count(')) {
          failNext = false;
          throw new TypeError('fetch failed');
        }
        return fetch(url, init);
      },
    });
    await src.poll('cnt');
    expect(counts).toEqual([]); // not counting until told where to start
    src.countFrom('cnt', base);
    await src.poll('cnt');
    expect(counts).toEqual([['cnt', base, base + 10_000, 10]]);
    await src.poll('cnt'); // nothing new is old enough yet
    expect(counts).toHaveLength(1);
    // A count that fails moves nothing; the next poll covers the whole interval.
    clock.set(base + 15_000 + 5_000);
    failNext = true;
    await src.poll('cnt');
    expect(counts).toHaveLength(1);
    clock.set(base + 20_000 + 5_000);
    await src.poll('cnt');
    expect(counts[1]).toEqual(['cnt', base + 10_000, base + 20_000, 5]);
    // An empty interval is reported as 0 (silence is information).
    clock.set(base + 30_000 + 5_000);
    await src.poll('cnt');
    expect(counts[2]).toEqual(['cnt', base + 20_000, base + 30_000, 0]);
  });

  it('counts a long interval (a catch-up after a restart) per minute, so its shape is kept', async () => {
    const base = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000 + 30_000; // half past a minute
    const pts: Point[] = [];
    // minute k after base's minute gets k+1 points (0.5 min of the first minute is before base)
    for (let k = 0; k < 5; k++) for (let i = 0; i <= k; i++) pts.push(new Point('cnt2').tag('k', 'v').intField('n', 1).timestamp(base - 30_000 + k * 60_000 + 31_000 + i * 1000));
    await write(pts);
    const clock = new ManualClock(base + 4.5 * 60_000 + 1000);
    const counts: Array<[number, number, number]> = [];
    const src = new InfluxSource([check('cnt2', { measurement: 'cnt2', field: 'n', where: { k: 'v' }, countDelay: '1s' })], () => {}, {
      clock,
      onCounts: (_c, from, to, n) => void counts.push([from, to, n]),
    });
    src.countFrom('cnt2', base);
    await src.poll('cnt2');
    // Contiguous minute pieces from base to base + 4.5 min; the first and last clipped.
    expect(counts[0]![0]).toBe(base);
    expect(counts.at(-1)![1]).toBe(base + 4.5 * 60_000);
    for (let i = 1; i < counts.length; i++) expect(counts[i]![0]).toBe(counts[i - 1]![1]);
    expect(counts.map((c) => c[2])).toEqual([1, 2, 3, 4, 5]);
    expect(counts.map((c) => c[1] - c[0])).toEqual([30_000, 60_000, 60_000, 60_000, 60_000]);
  });

  it('reports errors without throwing: unreachable is retryable, a missing database is permanent', async () => {
    const errors: [string, QuietwatchError][] = [];
    const port = await freePort();
    const src = new InfluxSource(
      [
        { name: 'down', source: influxSourceSchema.parse({ type: 'influxdb', url: `http://127.0.0.1:${port}`, database: DB, measurement: 'm', field: 'f', timeout: '1s' }) },
        check('nodb', { database: 'nope', measurement: 'm', field: 'f' }),
      ],
      () => {},
      { onError: (c, e) => void errors.push([c, e]) },
    );
    expect(await src.poll('down')).toBeUndefined();
    expect(await src.poll('nodb')).toBeUndefined();
    expect(errors[0]![0]).toBe('down');
    expect(errors[0]![1]).toBeInstanceOf(RetryableError);
    expect(errors[1]![0]).toBe('nodb');
    expect(errors[1]![1]).toBeInstanceOf(PermanentError);
    expect(errors[1]![1].message).toMatch(/database not found/);
    expect(src.status('nodb')!.lastError).toMatch(/database not found/);
  });
});

describe('influxSourceSchema and auth', () => {
  it('sends a 2.x token as "Authorization: Token" and 1.x credentials as basic auth, never printing them', async () => {
    const seen: (string | null)[] = [];
    const fakeFetch = (async (_url: string, init?: RequestInit) => {
      seen.push(new Headers(init?.headers).get('authorization'));
      return new Response(JSON.stringify({ results: [{ statement_id: 0, series: [{ name: 'm', columns: ['time', 'last'], values: [[1000, 1]] }] }] }));
    }) as typeof fetch;
    const base = { type: 'influxdb', url: 'http://influx.example:8086', database: 'd', measurement: 'm', field: 'f' } as const;
    const withToken = influxSourceSchema.parse({ ...base, token: 's3cret-token' });
    const withUser = influxSourceSchema.parse({ ...base, username: 'qw', password: 'pa55' });
    expect(withToken.token).toBeInstanceOf(Secret);
    expect(JSON.stringify(withToken)).not.toContain('s3cret');
    const src = new InfluxSource(
      [
        { name: 'a', source: withToken },
        { name: 'b', source: withUser },
      ],
      () => {},
      { fetch: fakeFetch },
    );
    await src.poll('a');
    await src.poll('b');
    expect(seen).toEqual(['Token s3cret-token', `Basic ${Buffer.from('qw:pa55').toString('base64')}`]);
  });

  it('rejects bad config with the path of each problem', () => {
    const r = influxSourceSchema.safeParse({ type: 'influxdb', url: 'not a url', database: '', measurement: 'm', field: 'f', pollInterval: 'soon', token: 't', username: 'u' });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['url', 'database', 'pollInterval']));
  });
});

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
