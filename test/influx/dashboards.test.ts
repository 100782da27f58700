/**
 * The sink writes every measurement into a real InfluxDB; then every query of every panel (and every
 * template variable) of every dashboard runs against it, expanded as Grafana expands it, and must
 * return the series the panel expects.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { DASHBOARDS, DS_INPUT, importable, LIVE_WINDOW, MIN_GRAFANA, NO_DATA } from '../../dashboards/grafana/dashboards.ts';
import { allPanelQueries, allVariableQueries, IMPORT_DIR } from '../../dashboards/grafana/generate.ts';
import { DATASOURCE } from '../../dashboards/grafana/influxql.ts';
import { InfluxSink } from '../../src/metrics/influx.ts';
import { MEASUREMENTS } from '../../src/metrics/measurements.ts';
import type { CheckRef } from '../../src/metrics/sink.ts';
import { expandQuery, type TimeRange } from './grafana.ts';
import { startGateway, startInfluxd, type Gateway, type InfluxServer, type Series } from './server.ts';

const DB = 'quietwatch';
/** The same facts, written by a quietwatch that stopped 45 s ago. */
const STOPPED_DB = 'quietwatch_stopped';
const STOPPED_AGO_MS = 45_000;
const CHECKS: CheckRef[] = [
  { name: 'card-auth', stream: 'auth', labels: { team: 'payments' } },
  { name: 'payouts', stream: 'payouts' },
  // regex metacharacters, a slash and a space: Grafana escapes them, so must we
  { name: 'acq.eu/(v2) [beta]', stream: 'acq eu' },
];

let influx: InfluxServer;
let gw: Gateway;
let t0: number;

beforeAll(async () => {
  influx = await startInfluxd();
  await influx.createDatabase(DB);
  await influx.createDatabase(STOPPED_DB);
  gw = await startGateway(influx.url);
  const live = Date.now();
  await writeHistory(DB, live);
  await writeHistory(STOPPED_DB, live - STOPPED_AGO_MS);
});

/** Ten minutes of history ending at `end`, written through the real sink, as quietwatch writes it. */
async function writeHistory(db: string, end: number): Promise<void> {
  const sink = new InfluxSink({ url: gw.url, bucket: db, org: 'quietwatch', precision: 'ms', flushInterval: '1h' });
  t0 = end - 10 * 60_000;
  // ten minutes of history, one sample every 20 s
  for (let i = 0; i <= 30; i++) {
    const at = t0 + i * 20_000;
    for (const [n, c] of CHECKS.entries()) {
      const state = i < 20 ? 'ok' : n === 0 ? 'down' : 'ok';
      sink.checkState(c, state, (i % 6) * 20, at, { eventsPerMinute: 60 * (n + 1), quietAfterMs: 60_000, pageAfterMs: 300_000 });
      sink.probe({ check: c.name, probeId: `p-${n}-${i}`, result: i % 5 === 4 ? 'lost' : 'proven', latencyMs: i % 5 === 4 ? undefined : 800 + i, costMinor: 1, currency: 'EUR', at });
    }
    sink.notification({ notifier: 'pagerduty', kind: 'trigger', outcome: i % 3 === 0 ? 'retry' : 'delivered', deliveryMs: 120, at });
    sink.incidents(i < 20 ? 0 : 1, at);
    sink.health({ component: 'store', ok: true, at });
    sink.health({ component: 'metrics', ok: i % 2 === 0, at });
  }
  for (const c of CHECKS) {
    sink.flip(c, 'unknown', 'ok', t0, 'first event');
    sink.flip(c, 'ok', 'quiet', t0 + 100_000, 'no events for 60s');
    sink.flip(c, 'quiet', 'ok', t0 + 120_000, 'event arrived');
  }
  // aggregated facts: counted in memory, emitted at flush
  for (const c of CHECKS) {
    sink.events(c.stream, 120, false, end);
    sink.events(c.stream, 2, true, end);
    sink.lag(c.stream, 250, end);
    sink.lag(c.stream, 1250, end);
  }
  await sink.flush();
  expect(sink.status()).toMatchObject({ ok: true, buffered: 0, dropped: 0 });
  await sink.close();
}

afterAll(async () => {
  await gw?.close();
  await influx?.stop();
});

const RANGES: [string, TimeRange][] = [
  ['relative', { relative: '1h' }],
  ['absolute', { from: Date.now() - 3_600_000, to: Date.now() + 3_600_000 }],
];

function assertSeries(series: Series[] | undefined, expectColumns: string[], groupTags: string[], where: string): void {
  expect(series, `${where}: no series`).toBeDefined();
  expect(series!.length, `${where}: empty`).toBeGreaterThan(0);
  for (const s of series!) {
    expect(s.columns, where).toEqual(expectColumns);
    for (const tag of groupTags) expect(s.tags?.[tag], `${where}: series lacks tag ${tag}`).toBeDefined();
    const hasValue = s.values.some((row) => row.slice(1).some((v) => v !== null));
    expect(hasValue, `${where}: only nulls`).toBe(true);
  }
}

describe('the sink writes every measurement', () => {
  it('creates each measurement of the schema with its fields', async () => {
    const res = await influx.query('SHOW FIELD KEYS', DB);
    const fields = Object.fromEntries((res.results[0]!.series ?? []).map((s) => [s.name, s.values.map((v) => v[0])]));
    for (const [m, def] of Object.entries(MEASUREMENTS)) {
      expect(fields[m], m).toBeDefined();
      for (const f of def.fields) expect(fields[m], `${m}.${f}`).toContain(f);
    }
    const tags = await influx.query('SHOW TAG KEYS', DB);
    const tagKeys = Object.fromEntries((tags.results[0]!.series ?? []).map((s) => [s.name, s.values.map((v) => v[0])]));
    for (const [m, def] of Object.entries(MEASUREMENTS)) for (const t of def.tags) expect(tagKeys[m], `${m} tag ${t}`).toContain(t);
  });
});

describe('every dashboard query runs against a real InfluxDB', () => {
  const panelQueries = allPanelQueries();
  const variableQueries = allVariableQueries();

  it('has queries to run', () => {
    expect(panelQueries.length).toBeGreaterThanOrEqual(15);
    expect(new Set(panelQueries.map((q) => q.dashboard))).toEqual(new Set(['office-screen.json', 'check-drilldown.json']));
  });

  it('lists every check and stream through the template variable queries', async () => {
    const checkVar = variableQueries.find((v) => v.name === 'check')!;
    const res = await influx.query(expandQuery(checkVar.query, { range: { relative: '1h' }, interval: '10s' }), DB);
    expect(res.results[0]!.series![0]!.values.map((v) => v[1]).sort()).toEqual(CHECKS.map((c) => c.name).sort());
    const streamVar = variableQueries.find((v) => v.name === 'stream')!;
    for (const c of CHECKS) {
      const q = expandQuery(streamVar.query, { range: { relative: '1h' }, interval: '10s', vars: { check: [c.name] } });
      const r = await influx.query(q, DB);
      expect(r.results[0]!.series![0]!.values.map((v) => v[1]), q).toEqual([c.stream]);
    }
  });

  for (const [rangeName, range] of RANGES) {
    for (const pq of panelQueries) {
      it(`${pq.dashboard} / ${pq.panel} / ${pq.refId} returns its series (${rangeName} time range)`, async () => {
        // the check variable: each check alone (drill-down, a repeated tile) and All (office screen)
        const selections: string[][] = [...CHECKS.map((c) => [c.name]), CHECKS.map((c) => c.name)];
        for (const checks of selections) {
          const streams = CHECKS.filter((c) => checks.includes(c.name)).map((c) => c.stream);
          const q = expandQuery(pq.query, { range, interval: '30s', vars: { check: checks, stream: streams } });
          const res = await influx.query(q, DB);
          assertSeries(res.results[0]!.series, pq.expect.columns, pq.expect.groupTags, `${q}`);
          if (pq.expect.groupTags.includes('check')) {
            const seen = res.results[0]!.series!.map((s) => s.tags!.check).sort();
            const wanted = pq.query.includes('${check:regex}') ? checks : CHECKS.map((c) => c.name);
            expect(seen, q).toEqual([...wanted].sort());
          }
        }
      });
    }
  }

  it('the office tile shows the latest state and seconds of exactly the selected check', async () => {
    const tile = panelQueries.find((q) => q.dashboard === 'office-screen.json' && q.expect.columns.includes('since last event'))!;
    const q = expandQuery(tile.query, { range: { relative: '1h' }, interval: '10s', vars: { check: ['card-auth'] } });
    const row = (await influx.query(q, DB)).results[0]!.series![0]!.values[0]!;
    // i = 30: card-auth is down, (30 % 6) * 20 = 0 s
    expect(row.slice(1)).toEqual([2, 0]);
  });
});

describe('a stopped quietwatch reads as stopped, not as the last green of the hour', () => {
  const panelQueries = allPanelQueries();
  const live = panelQueries.filter((q) => q.expect.live);

  it('the "now" panels read only the last 40 s: every tile, the state, the health, the incidents, the freshness', () => {
    const names = live.map((q) => `${q.dashboard} / ${q.panel}`);
    expect(names).toEqual(
      expect.arrayContaining([
        'office-screen.json / $check',
        'office-screen.json / quietwatch writing',
        'office-screen.json / Open incidents',
        'office-screen.json / quietwatch health',
        'check-drilldown.json / State',
        'check-drilldown.json / Since last event',
        'check-drilldown.json / quietwatch writing',
      ]),
    );
    for (const q of live) {
      expect(q.query, q.panel).toContain(`time > now() - ${LIVE_WINDOW}`);
      expect(q.query, q.panel).not.toContain('$timeFilter');
    }
  });

  it('each "now" panel says so when it has nothing: noValue "no data from quietwatch for 40 s", red', () => {
    for (const [file, make] of Object.entries(DASHBOARDS)) {
      for (const p of make().panels ?? []) {
        const panel = p as { title?: string; targets?: Array<{ query: string }>; fieldConfig?: { defaults?: { noValue?: string; thresholds?: { steps: Array<{ value: number | null; color: string }> } } } };
        if (!panel.targets?.some((t) => t.query.includes(`now() - ${LIVE_WINDOW}`))) continue;
        const d = panel.fieldConfig?.defaults;
        expect(d?.noValue, `${file} / ${panel.title}`).toBe(NO_DATA);
        if (panel.title !== 'Open incidents' && panel.title !== 'Since last event') {
          expect(d?.thresholds?.steps[0], `${file} / ${panel.title}: no data is red`).toEqual({ value: null, color: 'red' });
        }
      }
    }
  });

  for (const [rangeName, range] of RANGES) {
    it(`45 s after quietwatch stopped writing, every "now" query returns nothing (${rangeName} time range)`, async () => {
      for (const pq of live) {
        const q = expandQuery(pq.query, { range, interval: '30s', vars: { check: CHECKS.map((c) => c.name), stream: CHECKS.map((c) => c.stream) } });
        // The same query on the live data has values (the history loop above checks them all)...
        expect((await influx.query(q, DB)).results[0]!.series?.length ?? 0, `live: ${q}`).toBeGreaterThan(0);
        // ...and on the stopped writer's data it has none: Grafana shows noValue.
        expect((await influx.query(q, STOPPED_DB)).results[0]!.series, `stopped: ${q}`).toBeUndefined();
      }
    });
  }

  it('the freshness panel shows when the last data came: 45 s ago', async () => {
    const last = panelQueries.find((q) => q.dashboard === 'office-screen.json' && q.panel === 'Last data from quietwatch')!;
    const q = expandQuery(last.query, { range: { relative: '1h' }, interval: '10s' });
    const row = (await influx.query(`${q}`, STOPPED_DB)).results[0]!.series![0]!.values[0]!;
    const age = Date.now() - (typeof row[0] === 'number' ? row[0] : Date.parse(String(row[0])));
    expect(age).toBeGreaterThanOrEqual(STOPPED_AGO_MS);
    expect(age).toBeLessThan(STOPPED_AGO_MS + 60_000);
  });
});

describe('importable through the Grafana UI', () => {
  for (const [file, make] of Object.entries(DASHBOARDS)) {
    it(`${file}: __inputs names the datasource, __requires the minimum Grafana, no fixed uid left`, () => {
      const text = readFileSync(`${IMPORT_DIR}/${file}`, 'utf8');
      const d = JSON.parse(text);
      expect(d).toEqual(importable(make()));
      expect(d.__inputs).toEqual([expect.objectContaining({ name: DS_INPUT, type: 'datasource', pluginId: 'influxdb' })]);
      expect(d.__requires).toEqual(expect.arrayContaining([{ type: 'grafana', id: 'grafana', name: 'Grafana', version: MIN_GRAFANA }]));
      const types = new Set((d.panels as Array<{ type: string }>).map((p) => p.type));
      for (const t of types) expect(d.__requires.map((r: { id: string }) => r.id)).toContain(t);
      expect(text).not.toContain(DATASOURCE.uid);
      for (const p of d.panels) {
        expect(p.datasource.uid).toBe(`\${${DS_INPUT}}`);
        for (const t of p.targets) expect(t.datasource.uid).toBe(`\${${DS_INPUT}}`);
      }
      expect(d.schemaVersion).toBe(42); // what MIN_GRAFANA is derived from: bump both together
    });
  }
});
