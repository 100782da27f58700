/**
 * POST /api/v2/write and /write on quietwatch (src/ingest/influx-write-routes.ts), through the real
 * server (buildServer + the plugin), a real CheckRuntime on SQLite, and the official InfluxDB client
 * (@influxdata/influxdb-client) writing to it.
 */
import { gzipSync, deflateSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpError, InfluxDB, Point, setLogger } from '@influxdata/influxdb-client';
import { Auth } from '../../src/api/auth.ts';
import { buildServer, type ApiPlugin } from '../../src/api/server.ts';
import { CheckRuntime, type IngestEvent } from '../../src/checks/runtime.ts';
import type { CheckSpec, Effect } from '../../src/checks/types.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { influxWritePlugin } from '../../src/ingest/influx-write-routes.ts';

const INGEST = 'lp-ingest-token-0123456789';
const READ = 'lp-read-token-0123456789';
const T0 = Date.UTC(2026, 11, 2, 1, 0, 0);

const spec = (name: string, stream: string, match: Record<string, string[]> = {}): CheckSpec => ({ name, stream, match, quietAfterMs: 30_000, pageAfterMs: 60_000, labels: {} });
const CHECKS: CheckSpec[] = [
  spec('visa', 'card_auth', { scheme: ['visa'] }),
  spec('mastercard', 'card_auth', { scheme: ['mastercard'] }),
  spec('amex', 'card_auth', { scheme: ['amex'] }),
  spec('eu-acme', 'card_auth', { acquirer: ['acme'], region: ['eu'] }),
  spec('settlement', 'settlement'),
  spec('refunds', 'refunds'),
  spec('payouts', 'payouts'),
];

interface Harness {
  url: string;
  runtime: CheckRuntime;
  clock: ManualClock;
  effects: Effect[];
  batches: IngestEvent[][];
  failIngest: boolean;
  /** Each request as it arrived (before the auth mapping). */
  requests: Array<{ url: string; encoding?: string; auth?: string }>;
  close(): Promise<void>;
}

// The client logs each failed write to the console; the tests assert on the errors instead.
setLogger({ error: () => undefined, warn: () => undefined });

const open: Harness[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

async function harness(opts: { tokens?: boolean } = {}): Promise<Harness> {
  const clock = new ManualClock(T0);
  const store = new SqliteStore(':memory:');
  const logger = silentLogger();
  const effects: Effect[] = [];
  const runtime = new CheckRuntime({ checks: CHECKS.map((s) => ({ spec: s })), store, clock, logger, onEffect: (e) => void effects.push(e) });
  const auth = new Auth(
    opts.tokens === false
      ? []
      : [
          { name: 'telegraf', token: INGEST, scopes: ['ingest'] },
          { name: 'screens', token: READ, scopes: ['read'] },
        ],
  );
  const h = { clock, runtime, effects, batches: [] as IngestEvent[][], failIngest: false, requests: [] } as unknown as Harness;
  const recorder: ApiPlugin = {
    register(app) {
      app.addHook('onRequest', async (req) => {
        h.requests.push({ url: req.url, encoding: req.headers['content-encoding'], auth: req.headers.authorization });
      });
    },
  };
  const plugin = influxWritePlugin({
    ingest: async (events) => {
      if (h.failIngest) throw new Error('disk full');
      h.batches.push(events);
      await runtime.ingest(events);
    },
    clock,
    logger,
  });
  const app = await buildServer({ runtime, store, auth, clock, logger, bodyLimit: 5 << 20, plugins: [recorder, plugin] });
  h.url = await app.listen({ host: '127.0.0.1', port: 0 });
  h.close = async () => {
    await app.close();
    await store.close();
  };
  open.push(h);
  return h;
}

async function post(url: string, body: string | Buffer, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'POST', body: typeof body === 'string' ? body : new Uint8Array(body), headers: { 'content-type': 'text/plain; charset=utf-8', ...headers } });
  const text = await res.text();
  return { status: res.status, text, body: text ? JSON.parse(text) : undefined };
}

const ns = (ms: number) => `${ms}000000`;

describe('InfluxDB write API on quietwatch', () => {
  it('the official client writes points (gzipped) with a Token: each point an event on its measurement stream, 204', async () => {
    const h = await harness();
    const api = new InfluxDB({ url: h.url, token: INGEST }).getWriteApi('payments', 'anything', 'ms', { maxRetries: 0, gzipThreshold: 0, flushInterval: 0, batchSize: 100 });
    api.writePoints([
      new Point('card_auth').tag('scheme', 'visa').tag('acquirer', 'acme').intField('amount', 1250).stringField('currency', 'gbp').timestamp(T0 - 2_000),
      new Point('settlement').floatField('total', 99.5).timestamp(T0 - 1_000),
    ]);
    await api.close();
    expect(h.batches).toEqual([
      [
        { stream: 'card_auth', arrivedAt: T0, time: T0 - 2_000, attributes: { scheme: 'visa', acquirer: 'acme', amount: 1250, currency: 'gbp' } },
        { stream: 'settlement', arrivedAt: T0, time: T0 - 1_000, attributes: { total: 99.5 } },
      ],
    ]);
    expect(h.runtime.snapshot('visa')!.status).toBe('ok');
    expect(h.runtime.snapshot('visa')!.lastEventTime).toBe(T0 - 2_000);
    expect(h.runtime.snapshot('settlement')!.status).toBe('ok');
    expect(h.runtime.snapshot('mastercard')!.status).toBe('unknown');
  });

  it('a bad line: 400 naming the line, the client sees the message, nothing is ingested', async () => {
    const h = await harness();
    const api = new InfluxDB({ url: h.url, token: INGEST }).getWriteApi('payments', 'b', 'ns', { maxRetries: 0, flushInterval: 0 });
    api.writeRecords(['card_auth,scheme=visa amount=1i', 'card_auth,scheme=visa amount=oops', 'settlement total=1']);
    const err = await api.flush().then(
      () => undefined,
      (e: unknown) => e,
    );
    await api.close().catch(() => undefined);
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).statusCode).toBe(400);
    expect((err as HttpError).message).toMatch(/line 2: field "amount": invalid value "oops"/);
    expect(h.batches).toEqual([]);
    expect(h.runtime.snapshot('visa')!.status).toBe('unknown');

    const r = await post(`${h.url}/api/v2/write?bucket=b`, 'ok f=1i\nok f=2i\nbroken', { authorization: `Token ${INGEST}` });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ error: 'invalid_line_protocol', code: 'invalid', line: 3, field: 'fields', accepted: 0 });
    expect(r.body.problems).toEqual([{ line: 3, field: 'fields', message: 'the field set is missing (at least one field=value after a space)' }]);
  });

  it('/write (1.x) takes the token as p, Basic or Token, with 1.x precisions; the u/p token never needs Bearer', async () => {
    const h = await harness();
    const s = Math.floor((T0 - 5_000) / 1000);
    expect((await post(`${h.url}/write?db=telegraf&u=telegraf&p=${INGEST}&precision=s`, `refunds,shop=1 n=1i ${s}`)).status).toBe(204);
    const basic = Buffer.from(`telegraf:${INGEST}`).toString('base64');
    expect((await post(`${h.url}/write?db=telegraf&precision=u`, `payouts n=1i ${(T0 - 4_000) * 1000}`, { authorization: `Basic ${basic}` })).status).toBe(204);
    expect((await post(`${h.url}/write?precision=ms`, `settlement n=1i ${T0 - 3_000}`, { authorization: `Token ${INGEST}` })).status).toBe(204);
    expect((await post(`${h.url}/write?precision=ms`, `settlement n=2i ${T0 - 2_000}`, { authorization: `Bearer ${INGEST}` })).status).toBe(204);
    expect(h.runtime.snapshot('refunds')!.lastEventTime).toBe(s * 1000);
    expect(h.runtime.snapshot('payouts')!.lastEventTime).toBe(T0 - 4_000);
    expect(h.runtime.snapshot('settlement')!.lastEventTime).toBe(T0 - 2_000);
    // 1.x client: the official client's v1 compatibility (token "user:password") goes as Token.
    const v1 = new InfluxDB({ url: h.url, token: INGEST }).getWriteApi('', 'telegraf/autogen', 's', { maxRetries: 0, flushInterval: 0 });
    v1.writeRecord(`refunds n=2i ${s + 1}`);
    await v1.close();
    expect(h.runtime.snapshot('refunds')!.lastEventTime).toBe((s + 1) * 1000);
  });

  it('auth: no token 401, unknown token 401, a read token 403; GET /ping 204 without one', async () => {
    const h = await harness();
    expect((await post(`${h.url}/api/v2/write`, 'm f=1')).status).toBe(401);
    expect((await post(`${h.url}/api/v2/write`, 'm f=1', { authorization: 'Token nope' })).body).toMatchObject({ error: 'unauthorized', message: 'unknown token' });
    expect((await post(`${h.url}/write?p=nope`, 'm f=1')).status).toBe(401);
    expect((await post(`${h.url}/api/v2/write`, 'm f=1', { authorization: `Token ${READ}` })).status).toBe(403);
    expect(h.batches).toEqual([]);
    const ping = await fetch(`${h.url}/ping`);
    expect(ping.status).toBe(204);
    expect((await fetch(`${h.url}/ping`, { method: 'HEAD' })).status).toBe(204);
  });

  it('open (no tokens, loopback): the no-token guard refuses text/plain (a cross-site form could send it); without a content type a write needs no token', async () => {
    const h = await harness({ tokens: false });
    const refused = await post(`${h.url}/api/v2/write?precision=ms`, `payouts n=1i ${T0}`);
    expect(refused.status).toBe(415);
    expect(refused.body).toMatchObject({ field: 'content-type' });
    expect(h.batches).toEqual([]);
    const res = await fetch(`${h.url}/api/v2/write?precision=ms`, { method: 'POST', body: Buffer.from(`payouts n=1i ${T0}`) });
    expect(res.status).toBe(204);
    expect(h.runtime.snapshot('payouts')!.status).toBe('ok');
  });

  it('gzip bodies are read; bad gzip 400, other encodings 415, a bad precision 400 naming it; without a content type too', async () => {
    const h = await harness();
    const auth = { authorization: `Token ${INGEST}` };
    expect((await post(`${h.url}/api/v2/write?precision=ms`, gzipSync(`refunds n=1i ${T0 - 1}`), { ...auth, 'content-encoding': 'gzip' })).status).toBe(204);
    expect(h.runtime.snapshot('refunds')!.lastEventTime).toBe(T0 - 1);
    const bad = await post(`${h.url}/api/v2/write`, Buffer.from('not gzip'), { ...auth, 'content-encoding': 'gzip' });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ field: 'body' });
    const deflate = await post(`${h.url}/api/v2/write`, deflateSync('m f=1'), { ...auth, 'content-encoding': 'deflate' });
    expect(deflate.status).toBe(415);
    expect(deflate.body).toMatchObject({ field: 'content-encoding' });
    const prec = await post(`${h.url}/api/v2/write?precision=h`, 'm f=1', auth);
    expect(prec.status).toBe(400);
    expect(prec.body).toMatchObject({ field: 'precision', message: 'precision "h" is not one of ns, us, ms, s' });
    const res = await fetch(`${h.url}/api/v2/write?precision=ms`, { method: 'POST', body: Buffer.from(`payouts n=1i ${T0 - 7}`), headers: auth });
    expect(res.status).toBe(204);
    expect(h.runtime.snapshot('payouts')!.lastEventTime).toBe(T0 - 7);
    const empty = await post(`${h.url}/api/v2/write`, '', auth);
    expect(empty.status).toBe(400);
    expect(empty.body.message).toMatch(/no points/);
  });

  it('a batch that cannot be stored answers 503 (clients and Telegraf retry), and nothing moved', async () => {
    const h = await harness();
    h.failIngest = true;
    const r = await post(`${h.url}/api/v2/write`, 'refunds n=1i', { authorization: `Token ${INGEST}` });
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ error: 'unavailable' });
    expect(h.runtime.snapshot('refunds')!.status).toBe('unknown');
  });

  it('a Telegraf-format batch of 10,000 lines moves checks exactly as the same events through /v1/events', async () => {
    const viaEvents = await harness();
    const viaLines = await harness();
    const both = [viaEvents, viaLines];
    // 1. Every check but payouts sees one event at T0, then 70 s of silence: down.
    const first = ['visa', 'mastercard', 'amex'].map((scheme) => ({ stream: 'card_auth', time: T0, attributes: { acquirer: 'acme', region: 'us', scheme } }));
    first.push({ stream: 'card_auth', time: T0, attributes: { acquirer: 'acme', region: 'eu', scheme: 'visa' } });
    first.push({ stream: 'settlement', time: T0, attributes: {} } as never, { stream: 'refunds', time: T0, attributes: {} } as never);
    const lp = (e: { stream: string; time: number; attributes: Record<string, unknown> }, fields = 'n=1i') => {
      const tags = Object.entries(e.attributes).filter(([, v]) => typeof v === 'string').sort(([a], [b]) => a.localeCompare(b));
      return `${e.stream}${tags.map(([k, v]) => `,${k}=${v}`).join('')} ${fields} ${ns(e.time)}`;
    };
    expect((await post(`${viaEvents.url}/v1/events`, JSON.stringify(first), { 'content-type': 'application/json', authorization: `Bearer ${INGEST}` })).status).toBe(202);
    const w0 = new InfluxDB({ url: viaLines.url, token: INGEST }).getWriteApi('payments', 'telegraf', 'ns', { maxRetries: 0, flushInterval: 0 });
    w0.writeRecords(first.map((e) => lp(e)));
    await w0.flush();
    await w0.close();
    for (const h of both) {
      h.clock.advance(70_000);
      for (const c of CHECKS) await h.runtime.input(c.name, { kind: 'tick' });
    }
    expect(CHECKS.map((c) => viaLines.runtime.snapshot(c.name)!.status)).toEqual(Array(CHECKS.length).fill('down'));

    // 2. The batch, as Telegraf writes it: sorted tags, a host tag, typed fields, ns timestamps over the last 100 s.
    const schemes = ['visa', 'mastercard', 'visa', 'visa', 'mastercard'];
    const regions = ['eu', 'us', 'apac'];
    const lines: string[] = [];
    const events: Array<{ stream: string; time: number; attributes: Record<string, string | number | boolean> }> = [];
    const now = viaLines.clock.now();
    for (let i = 0; i < 10_000; i++) {
      const time = now - 100_000 + i * 10 + (i % 7);
      if (i % 10 === 9) {
        const attributes = { host: `edge-${i % 3}`, total: i * 0.25, files: i };
        events.push({ stream: 'settlement', time, attributes });
        lines.push(`settlement,host=edge-${i % 3} files=${i}i,total=${i * 0.25} ${ns(time)}`);
      } else {
        const scheme = schemes[i % 5]!;
        const region = regions[i % 3]!;
        const attributes = { acquirer: 'acme', host: `edge-${i % 3}`, region, scheme, amount: 100 + i, approved: i % 13 !== 0, currency: 'gbp' };
        events.push({ stream: 'card_auth', time, attributes });
        lines.push(`card_auth,acquirer=acme,host=edge-${i % 3},region=${region},scheme=${scheme} amount=${100 + i}i,approved=${i % 13 !== 0},currency="gbp" ${ns(time)}`);
      }
    }
    const ndjson = events.map((e) => JSON.stringify(e)).join('\n');
    const r = await post(`${viaEvents.url}/v1/events`, ndjson, { 'content-type': 'application/x-ndjson', authorization: `Bearer ${INGEST}` });
    expect(r.body).toEqual({ accepted: 10_000 });
    const writer = new InfluxDB({ url: viaLines.url, token: INGEST }).getWriteApi('payments', 'telegraf', 'ns', { maxRetries: 0, flushInterval: 0, batchSize: 10_001, gzipThreshold: 1000 }); // a batch of exactly batchSize is sent in the background, unseen by flush()
    writer.writeRecords(lines);
    await writer.flush(); // rejects on a failed write (close() only logs it)
    await writer.close();
    // One request, gzipped by the client (its body is far over the threshold), 10,000 events.
    expect(viaLines.batches.at(-1)).toHaveLength(10_000);
    expect(viaLines.requests.at(-1)).toMatchObject({ url: '/api/v2/write?org=payments&bucket=telegraf&precision=ns', encoding: 'gzip', auth: `Token ${INGEST}` });

    // The same events, the same states, the same flips and alerts, in the same order.
    const lastEvents = (await viaEvents.runtime.flushed(), viaLines.batches.at(-1)!);
    expect(lastEvents.map((e) => ({ stream: e.stream, time: e.time, attributes: e.attributes }))).toEqual(events);
    const strip = (s: ReturnType<CheckRuntime['snapshots']>) => s.map((x) => JSON.parse(JSON.stringify(x)));
    expect(strip(viaLines.runtime.snapshots())).toEqual(strip(viaEvents.runtime.snapshots()));
    expect(viaLines.effects).toEqual(viaEvents.effects);
    const recovered = viaLines.effects.filter((e) => e.type === 'flip' && e.from === 'down' && e.to === 'ok').map((e) => (e as { check: string }).check);
    expect(recovered.sort()).toEqual(['eu-acme', 'mastercard', 'settlement', 'visa']);
    expect(viaLines.runtime.snapshot('amex')!.status).toBe('down');
    expect(viaLines.runtime.snapshot('visa')!.lastEventTime).toBe(Math.max(...events.filter((e) => e.attributes.scheme === 'visa').map((e) => e.time)));

    // 3. And later deadlines fall alike.
    for (const h of both) {
      h.clock.advance(45_000);
      for (const c of CHECKS) await h.runtime.input(c.name, { kind: 'tick' });
    }
    expect(viaLines.effects).toEqual(viaEvents.effects);
    expect(strip(viaLines.runtime.snapshots())).toEqual(strip(viaEvents.runtime.snapshots()));
    expect(viaLines.runtime.snapshot('visa')!.status).toBe('quiet');
  });
});
