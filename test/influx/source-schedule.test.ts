/** InfluxSource scheduling in virtual time: each check at its own interval, one timer, stop/start. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InfluxSource, influxSourceSchema, lastPointQuery, historyQuery } from '../../src/sources/influx.ts';

const base = { type: 'influxdb', url: 'http://influx.test:8086', database: 'd', measurement: 'm', field: 'f' } as const;

describe('InfluxSource scheduling', () => {
  beforeEach(() => void vi.useFakeTimers({ now: 1_700_000_000_000 }));
  afterEach(() => void vi.useRealTimers());

  it('polls each check every its own pollInterval, and not after stop()', async () => {
    const polls: Record<string, number> = {};
    let t = 1_000;
    const fakeFetch = (async (url: string) => {
      const q = new URL(url).searchParams.get('q')!;
      const name = q.includes('"fast"') ? 'fast' : 'slow';
      polls[name] = (polls[name] ?? 0) + 1;
      t += 1;
      return new Response(JSON.stringify({ results: [{ statement_id: 0, series: [{ name, columns: ['time', 'last'], values: [[t, 1]] }] }] }));
    }) as typeof fetch;
    const advances: string[] = [];
    const src = new InfluxSource(
      [
        { name: 'fast', source: influxSourceSchema.parse({ ...base, measurement: 'fast', pollInterval: '1s' }) },
        { name: 'slow', source: influxSourceSchema.parse({ ...base, measurement: 'slow', pollInterval: '3s' }) },
      ],
      (c) => void advances.push(c),
      { fetch: fakeFetch },
    );
    src.start();
    await vi.advanceTimersByTimeAsync(6_000);
    expect(polls).toEqual({ fast: 7, slow: 3 }); // at 0..6 s, and at 0, 3, 6 s
    expect(advances.length).toBe(10);
    expect(vi.getTimerCount()).toBe(1);
    src.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(polls).toEqual({ fast: 7, slow: 3 });
    src.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(polls).toEqual({ fast: 8, slow: 4 });
    src.stop();
  });

  it('keeps polling after a callback throws', async () => {
    let n = 0;
    const fakeFetch = (async () => new Response(JSON.stringify({ results: [{ statement_id: 0, series: [{ name: 'm', columns: ['time', 'last'], values: [[++n, 1]] }] }] }))) as typeof fetch;
    const src = new InfluxSource([{ name: 'c', source: influxSourceSchema.parse({ ...base, pollInterval: '1s' }) }], () => {
      throw new Error('bug in the shell');
    }, { fetch: fakeFetch });
    src.start();
    await vi.advanceTimersByTimeAsync(3_000);
    expect(n).toBe(4);
    src.stop();
  });
});

describe('queries', () => {
  it('builds the newest-point and history queries with quoting', () => {
    const s = influxSourceSchema.parse({ ...base, measurement: 'card "auth"', field: 'amount', where: { region: "eu'w", acquirer: 'acme' }, lookback: '1h', retentionPolicy: 'rp' });
    expect(lastPointQuery(s)).toBe(`SELECT last("amount") FROM "rp"."card \\"auth\\"" WHERE "acquirer" = 'acme' AND "region" = 'eu\\'w' AND time > now() - 3600000ms`);
    expect(historyQuery(s, Date.UTC(2026, 0, 1), Date.UTC(2026, 0, 2), 300_000)).toBe(
      `SELECT count("amount") FROM "rp"."card \\"auth\\"" WHERE "acquirer" = 'acme' AND "region" = 'eu\\'w' AND time >= '2026-01-01T00:00:00.000Z' AND time < '2026-01-02T00:00:00.000Z' GROUP BY time(300000ms) fill(0)`,
    );
    expect(lastPointQuery(influxSourceSchema.parse(base))).toBe('SELECT last("f") FROM "m"');
  });
});
