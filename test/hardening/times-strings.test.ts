/**
 * Issue 16 item 9: one bound for event times (default ±1 day from arrival, `ingest.maxClockSkew`)
 * for string and numeric timestamps and ping `time`; lag clamped and out-of-range counted apart;
 * blank stream names refused; durations with repeated units refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { IngestError, parseEvents } from '../../src/ingest/parse.ts';
import { parseDuration } from '../../src/lib/duration.ts';
import { PrometheusSink } from '../../src/metrics/prometheus.ts';
import { startService, type Running } from '../helpers/service.ts';

const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();

let s: Running;
beforeAll(async () => {
  s = await startService(`checks:\n  - { name: pay, stream: payments, quietAfter: 30s, pageAfter: 2m }\n`);
});
afterAll(() => s?.close());

const post = (events: unknown) => s.fetch('/v1/events', { method: 'POST', body: JSON.stringify(events) });
const ping = (body: string) => s.fetch('/v1/streams/payments/ping', { method: 'POST', body, headers: { 'content-type': 'application/json' } });

describe('event times: one bound, ±1 day from arrival by default', () => {
  it.each([
    ['a string dated 1900', '1900-01-01T00:00:00Z', /before arrival/],
    ['a string two days old', () => iso(Date.now() - 2 * DAY), /more than 1 day\(s\) before arrival/],
    ['a string in year 9999', '9999-12-31T23:59:59Z', /after arrival/],
    ['a number two days ahead', () => Date.now() + 2 * DAY, /more than 1 day\(s\) after arrival/],
    ['a number two days old', () => Date.now() - 2 * DAY, /before arrival/],
  ])('POST /v1/events refuses %s (400, field time, nothing accepted)', async (_d, t, msg) => {
    const time = typeof t === 'function' ? t() : t;
    const before = (await s.fetch('/v1/checks/pay')).body.lastEventAt;
    const r = await post([{ stream: 'payments', time }]);
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ error: 'invalid_events', field: 'time', accepted: 0 });
    expect(r.body.message).toMatch(msg);
    expect((await s.fetch('/v1/checks/pay')).body.lastEventAt).toBe(before);
  });

  it('accepts times within the bound, as strings and numbers', async () => {
    expect((await post([{ stream: 'payments', time: iso(Date.now() - 23 * 3_600_000).replace(/\.\d+Z$/, 'Z') }, { stream: 'payments', time: Date.now() - 1000 }])).status).toBe(202);
  });

  it('ping refuses time 1e400, a far time and a blank body stream, and accepts a good time', async () => {
    const inf = await ping('{"time":1e400}');
    expect(inf).toMatchObject({ status: 400, body: { field: 'time' } });
    expect(inf.body.message).toMatch(/finite number/);
    expect((await ping(`{"time":${Date.now() + 3 * DAY}}`)).body).toMatchObject({ field: 'time' });
    expect((await ping(`{"time":"1900-01-01T00:00:00Z"}`)).status).toBe(400);
    expect((await ping(`{"time":${Date.now() - 5_000}}`)).status).toBe(202);
  });

  it('the bound is configurable (ingest.maxClockSkew) and applies to both forms', () => {
    const config = parseConfig('ingest: { maxClockSkew: 1h }\n', '<test>', {});
    expect(config.ingest.maxClockSkew).toBe(3_600_000);
    expect(parseConfig('', '<test>', {}).ingest.maxClockSkew).toBe(DAY);
    const now = Date.now();
    const opts = { maxClockSkewMs: 3_600_000 };
    expect(() => parseEvents(JSON.stringify([{ stream: 's', time: now - 2 * 3_600_000 }]), now, 'json', opts)).toThrow(/more than 1 hour\(s\) before arrival/);
    expect(() => parseEvents(JSON.stringify([{ stream: 's', time: iso(now + 2 * 3_600_000) }]), now, 'json', opts)).toThrow(/after arrival/);
    expect(parseEvents(JSON.stringify([{ stream: 's', time: now - 30 * 60_000 }]), now, 'json', opts)[0]!.time).toBe(now - 30 * 60_000);
  });
});

describe('lag is clamped and out-of-range lag is counted apart', () => {
  it('a future or ancient event does not touch the lag histogram; it counts in quietwatch_pipeline_lag_out_of_range_total', async () => {
    const p = new PrometheusSink({ defaultMetrics: false });
    p.lag('payments', 250, 0);
    p.lag('payments', -251_606_130_232_742, 0); // the future event
    p.lag('payments', 4e12, 0); // dated 1900
    p.lag('payments', -20, 0); // jitter: clamped to 0
    const text = await p.metricsText();
    expect(text).toMatch(/quietwatch_pipeline_lag_seconds_count\{stream="payments"\} 2/);
    expect(text).toMatch(/quietwatch_pipeline_lag_seconds_sum\{stream="payments"\} 0.25\b/);
    expect(text).toMatch(/quietwatch_pipeline_lag_out_of_range_total\{stream="payments",reason="future"\} 1/);
    expect(text).toMatch(/quietwatch_pipeline_lag_out_of_range_total\{stream="payments",reason="past"\} 1/);
  });
});

describe('stream names', () => {
  it.each([
    ['" "', ' '],
    ['tabs and spaces', ' \t '],
    ['a control character', 'pay\u0000ments'],
    ['a newline', 'pay\nments'],
  ])('POST /v1/events refuses a stream of %s', async (_d, stream) => {
    const r = await post([{ stream }]);
    expect(r).toMatchObject({ status: 400, body: { field: 'stream' } });
  });

  it('ping refuses a blank or control-character stream in the path', async () => {
    for (const p of ['%20', '%20%20%09', 'a%00b', '%0A']) {
      const r = await s.fetch(`/v1/streams/${p}/ping`, { method: 'POST' });
      expect(r.status, p).toBe(400);
      expect(r.body.field, p).toBe('stream');
    }
  });
});

describe('durations', () => {
  it.each(['1h1h', '30m1h', '1s1s', '5m5m5m', '1m500ms1m', '1e400s'])('%s is rejected', (d) => {
    expect(parseDuration(d)).toBeUndefined();
  });

  it.each([
    ['1h30m', 5_400_000],
    ['90s', 90_000],
    ['1d2h3m4s5ms', 93_784_005],
    ['500ms', 500],
  ])('%s parses', (d, ms) => {
    expect(parseDuration(d)).toBe(ms);
  });

  it('config with a repeated unit names the key', () => {
    expect(() => parseConfig('checks:\n  - { name: c, quietAfter: 1h1h, pageAfter: 3h }\n', '<test>', {})).toThrow(/checks\[0\]\.quietAfter/);
  });
});

it('IngestError is what parse throws', () => {
  expect(() => parseEvents('[{"stream":"  "}]', Date.now(), 'json')).toThrow(IngestError);
});
