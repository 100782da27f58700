import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DATASOURCE, InfluxQL, showTagValues, target } from '../../dashboards/grafana/influxql.ts';
import { allPanelQueries, allVariableQueries, renderDashboards, staleFiles } from '../../dashboards/grafana/generate.ts';

describe('dashboards as code', () => {
  it('the committed JSON is what the code generates (run: npx tsx dashboards/grafana/generate.ts)', () => {
    expect(staleFiles()).toEqual([]);
  });

  it('every panel target is an InfluxQL query on the provisioned datasource, with $timeFilter (or, for "now" panels, the last 40 s)', () => {
    for (const [file, text] of Object.entries(renderDashboards()).filter(([f]) => !f.startsWith('../import/'))) {
      const d = JSON.parse(text);
      for (const p of d.panels) {
        expect(p.targets?.length, `${file} / ${p.title}`).toBeGreaterThan(0);
        for (const t of p.targets) {
          expect(t.datasource).toEqual(DATASOURCE);
          expect(t.rawQuery).toBe(true);
          expect(t.query).toMatch(/\$timeFilter|time > now\(\) - 40s/);
          expect(t).not.toHaveProperty('expect');
        }
      }
    }
    expect(allPanelQueries().length).toBe(
      Object.entries(renderDashboards()).filter(([f]) => !f.startsWith('../import/')).map(([, t]) => t).reduce((n, text) => n + JSON.parse(text).panels.reduce((m: number, p: { targets: unknown[] }) => m + p.targets.length, 0), 0),
    );
  });

  it('the office screen repeats one tile per check and refreshes itself; the drill-down has a check variable', () => {
    const office = JSON.parse(renderDashboards()['office-screen.json']!);
    expect(office.panels[0].repeat).toBe('check');
    expect(office.refresh).toBe('5s');
    expect(office.templating.list[0]).toMatchObject({ name: 'check', multi: true, includeAll: true });
    const drill = JSON.parse(renderDashboards()['check-drilldown.json']!);
    expect(drill.templating.list[0]).toMatchObject({ name: 'check', multi: false, query: 'SHOW TAG VALUES FROM "qw_check" WITH KEY = "check"' });
    expect(allVariableQueries().map((v) => `${v.dashboard}:${v.name}`)).toEqual(['office-screen.json:check', 'check-drilldown.json:check', 'check-drilldown.json:stream']);
  });

  it('provisioning points at the datasource uid the dashboards use and at the json folder', () => {
    const ds = parse(readFileSync('dashboards/grafana/provisioning/datasources/quietwatch.yaml', 'utf8'));
    expect(ds.datasources[0]).toMatchObject({ uid: DATASOURCE.uid, type: 'influxdb' });
    expect(ds.datasources[0].jsonData.dbName).toBe('${QUIETWATCH_INFLUX_DB}');
    const prov = parse(readFileSync('dashboards/grafana/provisioning/dashboards/quietwatch.yaml', 'utf8'));
    expect(prov.providers[0]).toMatchObject({ type: 'file', options: { path: '${QUIETWATCH_DASHBOARDS_DIR}' } });
  });
});

describe('InfluxQL builder', () => {
  it('quotes identifiers and values, and uses Grafana regex formatting for variables', () => {
    const q = InfluxQL.from('qw_check')
      .select('last', 'state_code', { as: 'st"ate' })
      .column('seconds_since_last_event')
      .where('stream', "o'brien")
      .whereVariable('check', 'check')
      .toString();
    expect(q).toBe(
      `SELECT last("state_code") AS "st\\"ate", "seconds_since_last_event" FROM "qw_check" WHERE "stream" = 'o\\'brien' AND "check" =~ /^\${check:regex}$/ AND $timeFilter`,
    );
  });

  it('groups by time and tags with fill, orders and limits, and knows the columns it returns', () => {
    const q = InfluxQL.from('qw_probe').select('mean', 'latency_ms', { as: 'latency' }).select('sum', 'ok', { math: '* 100' }).groupByTime('$__interval').groupBy('check', 'result').fill(0);
    expect(q.toString()).toBe('SELECT mean("latency_ms") AS "latency", sum("ok") * 100 AS "sum" FROM "qw_probe" WHERE $timeFilter GROUP BY time($__interval), "check", "result" fill(0)');
    expect(q.expectation()).toEqual({ measurement: 'qw_probe', columns: ['time', 'latency', 'sum'], groupTags: ['check', 'result'] });
    expect(InfluxQL.from('qw_flip').column('reason').newestFirst().limit(5).toString()).toBe('SELECT "reason" FROM "qw_flip" WHERE $timeFilter ORDER BY time DESC LIMIT 5');
  });

  it('refuses queries InfluxDB would reject or answer with nothing', () => {
    expect(() => InfluxQL.from('qw_check').toString()).toThrow(/selects nothing/);
    expect(() => InfluxQL.from('qw_flip').column('from_state').toString()).toThrow(/at least one field/);
    expect(() => InfluxQL.from('qw_check').select('last', 'state_code').fill('none').toString()).toThrow(/groupByTime/);
    expect(() => InfluxQL.from('qw_check').whereVariable('check', 'bad name')).toThrow(/variable/);
  });

  it('builds a raw InfluxQL Grafana target', () => {
    const t = target(InfluxQL.from('qw_incidents').select('last', 'open')).refId('B').alias('open').table().build();
    expect(JSON.parse(JSON.stringify(t))).toEqual({
      refId: 'B',
      datasource: DATASOURCE,
      query: 'SELECT last("open") AS "last" FROM "qw_incidents" WHERE $timeFilter',
      rawQuery: true,
      resultFormat: 'table',
      alias: 'open',
    });
    expect(showTagValues('qw_check', 'stream', { tag: 'check', variable: 'check' })).toBe('SHOW TAG VALUES FROM "qw_check" WITH KEY = "stream" WHERE "check" =~ /^${check:regex}$/');
  });
});
