/**
 * `metrics.influxdb.version: 1`: the sink writes line protocol to the 1.x /write API of Debian's real
 * influxd 1.6 — no gateway — and every dashboard query returns data from it. The v2 writer against the
 * same server says to set version: 1. Auth and parameters are checked on a recording server (influxd
 * here runs without auth).
 */
import { createServer, type IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allPanelQueries, allVariableQueries } from '../../dashboards/grafana/generate.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { influxConfigSchema, InfluxSink, NO_V2_API } from '../../src/metrics/influx.ts';
import { MEASUREMENTS } from '../../src/metrics/measurements.ts';
import type { CheckRef } from '../../src/metrics/sink.ts';
import { expandQuery } from './grafana.ts';
import { freePort } from '../helpers/process.ts';
import { startInfluxd, type InfluxServer, type Series } from './server.ts';

const DB = 'quietwatch';
const CHECKS: CheckRef[] = [
  { name: 'card-auth', stream: 'auth', labels: { team: 'payments' } },
  { name: 'acq.eu/(v2) [beta]', stream: 'acq eu' },
];

let influx: InfluxServer;

beforeAll(async () => {
  influx = await startInfluxd();
  await influx.createDatabase(DB);
});
afterAll(async () => {
  await influx?.stop();
});

function writeEverything(sink: InfluxSink, t0: number): void {
  for (let i = 0; i <= 30; i++) {
    const at = t0 + i * 20_000;
    for (const [n, c] of CHECKS.entries()) {
      sink.checkState(c, i < 20 || n > 0 ? 'ok' : 'down', (i % 6) * 20, at, { eventsPerMinute: 60 * (n + 1), quietAfterMs: 60_000, pageAfterMs: 300_000 });
      sink.probe({ check: c.name, probeId: `p-${n}-${i}`, result: i % 5 === 4 ? 'lost' : 'proven', latencyMs: i % 5 === 4 ? undefined : 800 + i, costMinor: 1, currency: 'EUR', at });
    }
    sink.notification({ notifier: 'pagerduty', kind: 'trigger', outcome: i % 3 === 0 ? 'retry' : 'delivered', deliveryMs: 120, at });
    sink.incidents(i < 20 ? 0 : 1, at);
    sink.health({ component: 'store', ok: true, at });
  }
  for (const c of CHECKS) {
    sink.flip(c, 'unknown', 'ok', t0, 'first event');
    sink.flip(c, 'ok', 'quiet', t0 + 100_000, 'no events for 60s');
    sink.events(c.stream, 120, false, Date.now());
    sink.events(c.stream, 2, true, Date.now());
    sink.lag(c.stream, 250, Date.now());
  }
}

function assertSeries(series: Series[] | undefined, columns: string[], where: string): void {
  expect(series, `${where}: no series`).toBeDefined();
  expect(series!.length, `${where}: empty`).toBeGreaterThan(0);
  for (const s of series!) {
    expect(s.columns, where).toEqual(columns);
    expect(
      s.values.some((row) => row.slice(1).some((v) => v !== null)),
      `${where}: only nulls`,
    ).toBe(true);
  }
}

describe('version 1: the 1.x /write API of a real influxd 1.6, no gateway', () => {
  it('writes every measurement, and every dashboard query and variable returns data from it', async () => {
    const sink = new InfluxSink({ version: 1, url: influx.url, database: DB, precision: 'ms', flushInterval: '1h' });
    writeEverything(sink, Date.now() - 10 * 60_000);
    await sink.flush();
    expect(sink.status()).toMatchObject({ ok: true, buffered: 0, dropped: 0 });
    expect(sink.written()).toBeGreaterThan(150);
    await sink.close();

    const res = await influx.query('SHOW FIELD KEYS', DB);
    const fields = Object.fromEntries((res.results[0]!.series ?? []).map((s) => [s.name, s.values.map((v) => v[0])]));
    for (const [m, def] of Object.entries(MEASUREMENTS)) for (const f of def.fields) expect(fields[m], `${m}.${f}`).toContain(f);

    const checkVar = allVariableQueries().find((v) => v.name === 'check')!;
    const vr = await influx.query(expandQuery(checkVar.query, { range: { relative: '1h' }, interval: '10s' }), DB);
    expect(vr.results[0]!.series![0]!.values.map((v) => v[1]).sort()).toEqual(CHECKS.map((c) => c.name).sort());

    const panels = allPanelQueries();
    expect(panels.length).toBeGreaterThanOrEqual(15);
    for (const pq of panels) {
      const q = expandQuery(pq.query, { range: { relative: '1h' }, interval: '30s', vars: { check: CHECKS.map((c) => c.name), stream: CHECKS.map((c) => c.stream) } });
      const r = await influx.query(q, DB);
      expect(r.results[0]!.error, q).toBeUndefined();
      assertSeries(r.results[0]!.series, pq.expect.columns, `${pq.dashboard} / ${pq.panel} / ${pq.refId}: ${q}`);
    }
  });

  it.each(['s', 'ms', 'us', 'ns'] as const)('keeps the point time in precision %s', async (precision) => {
    const db = `prec_${precision}`;
    await influx.createDatabase(db);
    const sink = new InfluxSink({ version: 1, url: influx.url, database: db, precision, flushInterval: '1h' });
    const at = Date.UTC(2026, 11, 2, 1, 2, 3, 456);
    sink.incidents(3, at);
    await sink.flush();
    await sink.close();
    const r = await influx.query('SELECT "open" FROM "qw_incidents"', db);
    expect(r.results[0]!.series![0]!.values).toEqual([[precision === 's' ? Math.floor(at / 1000) * 1000 : at, 3]]);
  });

  it('an unknown database is rejected: status says so, the batch is dropped and counted', async () => {
    const sink = new InfluxSink({ version: 1, url: influx.url, database: 'nope', flushInterval: '1h' });
    sink.incidents(1, Date.now());
    await sink.flush();
    expect(sink.status()).toMatchObject({ ok: false, reason: 'rejected', dropped: 1 });
    expect(sink.status().lastError).toMatch(/INFLUXDB_HTTP_404: .*database not found/);
    await sink.close();
  });

  it('an unreachable server buffers and reports unreachable (retried, not dropped)', async () => {
    const sink = new InfluxSink({ version: 1, url: `http://127.0.0.1:${await freePort()}`, database: DB, flushInterval: '1h', timeout: '2s' });
    sink.incidents(1, Date.now());
    await sink.flush();
    expect(sink.status()).toMatchObject({ ok: false, reason: 'unreachable', buffered: 1, dropped: 0 });
    await sink.close();
  });
});

describe('version 1 with auth-enabled on a real influxd 1.6', () => {
  it('writes with username/password (Basic auth); a wrong password is rejected, named, and never shown', async () => {
    const secure = await startInfluxd({ auth: true });
    try {
      const password = 'qw-influx-pass-0123456789';
      const q = async (query: string, auth: boolean) => {
        const body = new URLSearchParams({ q: query, db: 'secured', epoch: 'ms' });
        const creds = auth ? `?${new URLSearchParams({ u: 'admin', p: password })}` : '';
        const res = await fetch(`${secure.url}/query${creds}`, { method: 'POST', body });
        return { status: res.status, json: (await res.json()) as { results?: { series?: Series[] }[]; error?: string } };
      };
      expect((await q(`CREATE USER admin WITH PASSWORD '${password}' WITH ALL PRIVILEGES`, false)).status).toBe(200);
      expect((await q('CREATE DATABASE secured', false)).status).toBe(401);
      expect((await q('CREATE DATABASE secured', true)).status).toBe(200);

      const good = new InfluxSink({ version: 1, url: secure.url, database: 'secured', username: 'admin', password, flushInterval: '1h' });
      good.incidents(2, Date.now());
      await good.flush();
      expect(good.status()).toMatchObject({ ok: true, dropped: 0 });
      await good.close();
      expect((await q('SELECT "open" FROM "qw_incidents"', true)).json.results![0]!.series![0]!.values[0]![1]).toBe(2);

      const bad = new InfluxSink({ version: 1, url: secure.url, database: 'secured', username: 'admin', password: 'wrong-password-0123', flushInterval: '1h' });
      bad.incidents(3, Date.now());
      await bad.flush();
      expect(bad.status()).toMatchObject({ ok: false, reason: 'rejected', dropped: 1 });
      expect(bad.status().lastError).toMatch(/^INFLUXDB_HTTP_401: influxdb answered 401: authorization failed/);
      expect(JSON.stringify(bad.status())).not.toContain('wrong-password');
      await bad.close();
    } finally {
      await secure.stop();
    }
  });
});

describe('the v2 writer against InfluxDB older than 1.8', () => {
  it('says: this InfluxDB has no v2 write API (older than 1.8): set version: 1 — in the status and the log', async () => {
    const out = new PassThrough();
    let logged = '';
    out.on('data', (d: Buffer) => (logged += d.toString()));
    const sink = new InfluxSink({ url: influx.url, bucket: DB, flushInterval: '1h' }, { logger: createLogger({ destination: out, level: 'warn' }) });
    sink.incidents(1, Date.now());
    await sink.flush();
    const st = sink.status();
    expect(st).toMatchObject({ ok: false, reason: 'rejected', dropped: 1 });
    expect(st.lastError).toContain('INFLUXDB_NO_V2_API: this InfluxDB has no v2 write API (older than 1.8): set version: 1');
    await sink.close();
    await new Promise((r) => setImmediate(r));
    expect(logged).toContain(NO_V2_API);
  });
});

describe('version 1 requests (recording server)', () => {
  it('POST /write?db=&rp=&precision= (1.x names: u, n) with Basic auth; the password is in no status or log', async () => {
    const seen: Array<{ url: string; auth?: string; type?: string; body: string }> = [];
    let answer = 204;
    const srv = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        seen.push({ url: req.url!, auth: req.headers.authorization, type: req.headers['content-type'], body });
        if (answer === 204) res.writeHead(204).end();
        else res.writeHead(answer, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'authorization failed' }));
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(srv.address() as { port: number }).port}/`;
    const out = new PassThrough();
    let logged = '';
    out.on('data', (d: Buffer) => (logged += d.toString()));
    const password = 's3cret-influx-password';
    for (const [precision, wire] of [['us', 'u'], ['ns', 'n'], ['s', 's']] as const) {
      const sink = new InfluxSink({ version: 1, url, database: 'qw db', retentionPolicy: 'two_weeks', username: 'qw', password, precision, flushInterval: '1h' }, { logger: createLogger({ destination: out, level: 'debug' }) });
      sink.health({ component: 'store', ok: true, at: Date.UTC(2026, 0, 1) });
      await sink.flush();
      expect(sink.status().ok).toBe(true);
      expect(seen.at(-1)!.url).toBe(`/write?db=qw+db&precision=${wire}&rp=two_weeks`);
      await sink.close();
    }
    expect(seen[0]!.auth).toBe(`Basic ${Buffer.from(`qw:${password}`).toString('base64')}`);
    expect(seen[0]!.type).toBe('text/plain; charset=utf-8');
    expect(seen[0]!.body).toBe('qw_health,component=store ok=1i 1767225600000000');
    answer = 401;
    const sink = new InfluxSink({ version: 1, url, database: 'qw', username: 'qw', password, flushInterval: '1h' }, { logger: createLogger({ destination: out, level: 'debug' }) });
    sink.health({ component: 'store', ok: true, at: Date.now() });
    await sink.flush();
    expect(sink.status()).toMatchObject({ ok: false, reason: 'rejected' });
    expect(sink.status().lastError).toBe('INFLUXDB_HTTP_401: influxdb answered 401: authorization failed');
    await sink.close();
    await new Promise((r) => setImmediate(r));
    expect(JSON.stringify(sink.status())).not.toContain(password);
    expect(logged).not.toContain(password);
    expect(logged).not.toContain(Buffer.from(`qw:${password}`).toString('base64'));
    srv.close();
  });
});

describe('the config says what each version needs, every problem at once', () => {
  const problems = (c: unknown) => {
    const r = influxConfigSchema.safeParse(c);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  it.each([
    [{ url: 'http://i:8086', bucket: 'qw' }, []],
    [{ version: 1, url: 'http://i:8086', database: 'qw' }, []],
    [{ version: 1, url: 'http://i:8086', database: 'qw', username: 'u', password: 'p' }, []],
    [{ url: 'http://i:8086' }, ['bucket: is required (version 2: InfluxDB 1.8+, 2.x, 3.x); for an InfluxDB 1.x older than 1.8 set version: 1 and database']],
    [{ url: 'http://i:8086', bucket: 'qw', database: 'qw' }, ['database: is only used with version: 1 (the 1.x /write API)']],
    [
      { version: 1, url: 'http://i:8086', token: 't', bucket: 'b', username: 'u' },
      ['database: is required with version: 1', 'token: is not used with version: 1 (use username and password)', 'bucket: is not used with version: 1 (name the database, and retentionPolicy if not the default)', 'password: username and password go together'],
    ],
    [{ version: 3, url: 'http://i:8086', bucket: 'b' }, ['version: Invalid input']],
  ])('%j', (cfg, expected) => {
    const got = problems(cfg);
    if (expected.length === 1 && expected[0]!.startsWith('version:')) expect(got[0]).toMatch(/^version: /);
    else expect(got).toEqual(expected);
  });
});
