/** The InfluxDB sink's wire format, against a local HTTP server that records what a v2 server receives. */
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.ts';
import { InfluxSink, influxConfigSchema, toTimestamp } from '../../src/metrics/influx.ts';

interface Req {
  path: string;
  auth: string | undefined;
  lines: string[];
}
let server: http.Server;
let url: string;
const requests: Req[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      requests.push({ path: req.url ?? '', auth: req.headers.authorization, lines: body.toString('utf8').split('\n').filter(Boolean) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const lines = () => requests.flatMap((r) => r.lines);

describe('InfluxSink wire format', () => {
  it('writes each fact as its measurement, with the token as "Token …" and the configured precision', async () => {
    requests.length = 0;
    const sink = new InfluxSink({ url, token: 'tok-123', org: 'acme', bucket: 'qw', precision: 's', defaultTags: { env: 'prod' } });
    const at = 1_700_000_000_123;
    sink.checkState({ name: 'card auth', stream: 'auth', labels: { team: 'pay', check: 'spoof' } }, 'quiet', 61.5, at, { eventsPerMinute: 30, quietAfterMs: 60_000, pageAfterMs: 300_000 });
    sink.checkState({ name: 'new', stream: 'x' }, 'unknown', null, at);
    sink.flip({ name: 'card auth', stream: 'auth' }, 'ok', 'quiet', at, 'no "events", for 60s');
    sink.probe({ check: 'card auth', probeId: 'p-1', result: 'proven', latencyMs: 812.5, costMinor: 1, currency: 'EUR', at });
    sink.probe({ check: 'card auth', probeId: 'p-2', result: 'lost', costMinor: 1, currency: 'EUR', at });
    sink.notification({ notifier: 'slack', kind: 'warning', outcome: 'retry', at });
    sink.incidents(3, at);
    sink.health({ component: 'store', ok: false, at });
    await sink.flush();
    await sink.close();
    expect(requests[0]!.path).toBe('/api/v2/write?org=acme&bucket=qw&precision=s');
    expect(requests[0]!.auth).toBe('Token tok-123');
    expect(lines()).toEqual([
      'qw_check,check=card\\ auth,env=prod,state=quiet,stream=auth,team=pay expected_per_min=30,page_after_s=300,quiet_after_s=60,seconds_since_last_event=61.5,state_code=1i 1700000000',
      'qw_check,check=new,env=prod,state=unknown,stream=x state_code=-1i 1700000000',
      'qw_flip,check=card\\ auth,env=prod,from_state=ok,stream=auth,to_state=quiet from_code=0i,reason="no \\"events\\", for 60s",to_code=1i 1700000000',
      'qw_probe,check=card\\ auth,currency=EUR,env=prod,result=proven cost_minor=1i,latency_ms=812.5,ok=1i,probe_id="p-1" 1700000000',
      'qw_probe,check=card\\ auth,currency=EUR,env=prod,result=lost cost_minor=1i,ok=0i,probe_id="p-2" 1700000000',
      'qw_notification,env=prod,kind=warning,notifier=slack,outcome=retry count=1i 1700000000',
      'qw_incidents,env=prod open=3i 1700000000',
      'qw_health,component=store,env=prod ok=0i 1700000000',
    ]);
  });

  it('gives occurrences of one series in the same instant distinct timestamps (InfluxDB would keep only the last)', async () => {
    requests.length = 0;
    const clock = new ManualClock(1_700_000_000_000);
    const sink = new InfluxSink({ url, bucket: 'qw' }, { clock });
    const at = clock.now();
    // two checks resolved by one batch: two deliveries of one kind through one notifier, same millisecond
    sink.notification({ notifier: 'webhook', kind: 'resolve', outcome: 'delivered', at });
    sink.notification({ notifier: 'webhook', kind: 'resolve', outcome: 'delivered', at });
    sink.notification({ notifier: 'webhook', kind: 'resolve', outcome: 'delivered', at: at + 1 });
    sink.notification({ notifier: 'slack', kind: 'resolve', outcome: 'delivered', at }); // another series: untouched
    sink.probe({ check: 'a b', probeId: 'p-1', result: 'lost', costMinor: 1, currency: 'EUR', at });
    sink.probe({ check: 'a b', probeId: 'p-2', result: 'lost', costMinor: 1, currency: 'EUR', at });
    sink.checkState({ name: 'a', stream: 's' }, 'ok', 0, at); // a state sample: the last one in an instant is the state
    sink.checkState({ name: 'a', stream: 's' }, 'ok', 0, at);
    await sink.flush();
    await sink.close();
    const got = lines();
    expect(got.filter((l) => l.startsWith('qw_notification,kind=resolve,notifier=webhook')).map((l) => l.split(' ').at(-1))).toEqual([
      '1700000000000',
      '1700000000001',
      '1700000000002',
    ]);
    expect(got.filter((l) => l.startsWith('qw_notification,kind=resolve,notifier=slack')).map((l) => l.split(' ').at(-1))).toEqual(['1700000000000']);
    expect(got.filter((l) => l.startsWith('qw_probe')).map((l) => l.split(' ').at(-1))).toEqual(['1700000000000', '1700000000001']);
    expect(got.filter((l) => l.startsWith('qw_check')).map((l) => l.split(' ').at(-1))).toEqual(['1700000000000', '1700000000000']);
  });

  it('aggregates events and lag per flush interval, O(1) per call, and reports known streams as 0 when silent', async () => {
    requests.length = 0;
    const clock = new ManualClock(1_700_000_000_000);
    const sink = new InfluxSink({ url, bucket: 'qw', flushInterval: '10s' }, { clock });
    clock.advance(10_000);
    for (let i = 0; i < 100_000; i++) sink.events('auth', 1, false, clock.now());
    sink.events('auth', 5, true, clock.now());
    sink.lag('auth', 100, clock.now());
    sink.lag('auth', 300, clock.now());
    await sink.flush();
    clock.advance(30_000);
    await sink.flush();
    await sink.close();
    expect(lines()).toEqual([
      'qw_events,stream=auth,synthetic=false count=100000i,per_min=600000 1700000010000',
      'qw_events,stream=auth,synthetic=true count=5i,per_min=30 1700000010000',
      'qw_lag,stream=auth count=2i,max_ms=300,mean_ms=200 1700000010000',
      'qw_events,stream=auth,synthetic=false count=0i,per_min=0 1700000040000',
      'qw_events,stream=auth,synthetic=true count=0i,per_min=0 1700000040000',
    ]);
  });

  it('converts epoch ms to every precision exactly', () => {
    const ms = 1_700_000_000_123;
    expect(toTimestamp(ms, 's')).toBe('1700000000');
    expect(toTimestamp(ms, 'ms')).toBe('1700000000123');
    expect(toTimestamp(ms, 'us')).toBe('1700000000123000');
    expect(toTimestamp(ms, 'ns')).toBe('1700000000123000000');
  });

  it('validates its config, and never prints the token', () => {
    const cfg = influxConfigSchema.parse({ url: 'http://influx:8086', bucket: 'qw', token: 'shh', flushInterval: '5s' });
    expect(cfg.flushInterval).toBe(5000);
    expect(cfg.maxBufferPoints).toBe(100_000);
    expect(JSON.stringify(cfg)).not.toContain('shh');
    const bad = influxConfigSchema.safeParse({ url: 'nope', bucket: '', flushInterval: 'often', batchSize: 10, maxBufferPoints: 5 });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => i.path.join('.'))).toEqual(expect.arrayContaining(['url', 'bucket', 'flushInterval']));
    expect(influxConfigSchema.safeParse({ url: 'http://x', bucket: 'b', batchSize: 10, maxBufferPoints: 5 }).error!.issues[0]!.path).toEqual(['batchSize']);
  });
});
