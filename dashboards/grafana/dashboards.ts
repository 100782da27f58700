/**
 * quietwatch's Grafana dashboards, as code (@grafana/grafana-foundation-sdk). `generate.ts` writes them
 * to json/ (committed; a test fails when the JSON is stale). The queries are InfluxQL over the schema in
 * src/metrics/measurements.ts (docs/metrics.md).
 *
 * - office-screen: for a screen across the room — one tile per check (seconds since its last event and
 *   its state, coloured), probe success and latency, open incidents, events per minute against the
 *   learned normal, notifications, quietwatch's own health. Refreshes every 5 s.
 * - check-drilldown: one check (variable `check`): state over time, seconds since last event against
 *   its quiet/page limits, events per minute vs normal, pipeline lag, probes, flips.
 */
import * as common from '@grafana/grafana-foundation-sdk/common';
import {
  DashboardBuilder,
  DashboardCursorSync,
  DashboardLinkBuilder,
  DashboardLinkType,
  FieldColorBuilder,
  FieldColorModeId,
  MappingType,
  QueryVariableBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  VariableHide,
  VariableRefresh,
  VariableSort,
  type Dashboard,
  type DashboardLink,
  type Panel,
  type ValueMapping,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as StateTimelinePanel } from '@grafana/grafana-foundation-sdk/statetimeline';
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries';
import { STATE_CODE } from '../../src/metrics/sink.ts';
import { DATASOURCE, InfluxQL, showTagValues, target, type InfluxQLTarget, type QueryExpectation } from './influxql.ts';

export const OFFICE_SCREEN_UID = 'quietwatch-office';
/**
 * "Now" panels read only the last 40 s (quietwatch writes every metrics.stateInterval, 5 s by
 * default): when it stops writing they go blank and red with NO_DATA instead of showing the last
 * value of the hour as if it were current.
 */
export const LIVE_WINDOW = '40s' as const;
export const NO_DATA = 'no data from quietwatch for 40 s';
/** The oldest Grafana these dashboards are for: the JSON is schemaVersion 42 (foundation-sdk 0.0.21). */
export const MIN_GRAFANA = '12.0.0';
export const DRILLDOWN_UID = 'quietwatch-check';

const STATE_MAPPINGS: ValueMapping[] = [
  {
    type: MappingType.ValueToText,
    options: {
      [String(STATE_CODE.unknown)]: { text: 'UNKNOWN', color: 'text', index: 0 },
      [String(STATE_CODE.ok)]: { text: 'OK', color: 'green', index: 1 },
      [String(STATE_CODE.quiet)]: { text: 'QUIET', color: 'orange', index: 2 },
      [String(STATE_CODE.down)]: { text: 'DOWN', color: 'red', index: 3 },
      [String(STATE_CODE.paused)]: { text: 'PAUSED', color: 'blue', index: 4 },
    },
  },
];

const UP_MAPPINGS: ValueMapping[] = [
  { type: MappingType.ValueToText, options: { '0': { text: 'DOWN', color: 'red', index: 0 }, '1': { text: 'UP', color: 'green', index: 1 } } },
];

const thresholds = (...steps: [number | null, string][]) =>
  new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps(steps.map(([value, color]) => ({ value, color })));

const reduceLast = () => new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false);
const fixedColor = (c: string) => new FieldColorBuilder().mode(FieldColorModeId.Fixed).fixedColor(c);

function checkVariable(opts: { multi: boolean; hide: boolean }) {
  const v = new QueryVariableBuilder('check')
    .label('Check')
    .datasource(DATASOURCE)
    .query(showTagValues('qw_check', 'check'))
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc)
    .multi(opts.multi)
    .includeAll(opts.multi);
  if (opts.multi) v.current({ text: 'All', value: '$__all', selected: true });
  if (opts.hide) v.hide(VariableHide.HideVariable);
  return v;
}

const otherDashboard = (title: string, uid: string): DashboardLinkBuilder =>
  new DashboardLinkBuilder(title).type(DashboardLinkType.Link).url(`/d/${uid}`).keepTime(true).includeVars(false).icon('dashboard');

/**
 * Freshness, in two small panels that say what the others cannot: whether what they show is current.
 * - "quietwatch writing": points quietwatch wrote in the last 40 s (its health, every
 *   metrics.stateInterval): LIVE in green, or NO_DATA in red once it stopped.
 * - "Last data from quietwatch": the age of its newest point in the range ("3 seconds ago").
 */
function freshnessPanels(h: number, w: number): [StatPanel, StatPanel] {
  const writing = new StatPanel()
    .title('quietwatch writing')
    .description(`Red after ${LIVE_WINDOW} without data: quietwatch (or its InfluxDB writes) stopped, and nothing on this dashboard is current.`)
    .height(h)
    .span(w)
    .datasource(DATASOURCE)
    .withTarget(target(InfluxQL.from('qw_health').select('count', 'ok', { as: 'points' }).within(LIVE_WINDOW)).refId('A'))
    .reduceOptions(reduceLast())
    .mappings([{ type: MappingType.RangeToText, options: { from: 1, to: null as never, result: { text: 'LIVE', color: 'green', index: 0 } } }])
    .noValue(NO_DATA)
    .colorMode(common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.None)
    .colorScheme(new FieldColorBuilder().mode(FieldColorModeId.Thresholds))
    .thresholds(thresholds([null, 'red'], [1, 'green']));
  const last = new StatPanel()
    .title('Last data from quietwatch')
    .description('When quietwatch last wrote to InfluxDB (its newest point in the time range).')
    .height(h)
    .span(w)
    .datasource(DATASOURCE)
    .withTarget(target(InfluxQL.from('qw_health').select('last', 'ok', { as: 'last' })).refId('A'))
    .reduceOptions(reduceLast().fields('/^Time$/'))
    .unit('dateTimeFromNow')
    .noValue('no data from quietwatch in this time range')
    .colorMode(common.BigValueColorMode.None)
    .graphMode(common.BigValueGraphMode.None);
  return [writing, last];
}

// ---- office screen --------------------------------------------------------------------------------

export function officeScreen(): Dashboard {
  const tile = new StatPanel()
    .title('$check')
    .description('Seconds since the last event, and the state (green ok, orange quiet, red down, blue paused).')
    .repeat('check')
    .repeatDirection('h')
    .maxPerRow(6)
    .height(6)
    .span(4)
    .datasource(DATASOURCE)
    .withTarget(
      target(
        InfluxQL.from('qw_check')
          .select('last', 'state_code', { as: 'state' })
          .column('seconds_since_last_event', 'since last event')
          .whereVariable('check', 'check')
          .within(LIVE_WINDOW),
      ).refId('A'),
    )
    .reduceOptions(reduceLast().fields('/^(since last event|state)$/'))
    .colorMode(common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.None)
    .textMode(common.BigValueTextMode.Value)
    .justifyMode(common.BigValueJustifyMode.Center)
    .orientation(common.VizOrientation.Vertical)
    .noValue(NO_DATA)
    // No data: the tile turns red (the thresholds' base), never the last green of the hour.
    .colorScheme(new FieldColorBuilder().mode(FieldColorModeId.Thresholds))
    .thresholds(thresholds([null, 'red']))
    .overrideByName('state', [{ id: 'mappings', value: STATE_MAPPINGS }, { id: 'color', value: { mode: 'thresholds' } }, { id: 'thresholds', value: thresholds([null, 'text']).build() }])
    .overrideByName('since last event', [
      { id: 'unit', value: 's' },
      { id: 'decimals', value: 0 },
      { id: 'color', value: { mode: 'fixed', fixedColor: 'transparent' } },
    ])
    .dataLinks([
      new DashboardLinkBuilder('Drill down: ${check}').url(`/d/${DRILLDOWN_UID}?var-check=\${check}&\${__url_time_range}`) as never,
    ]);

  const incidents = new StatPanel()
    .title('Open incidents')
    .height(7)
    .span(4)
    .datasource(DATASOURCE)
    .withTarget(target(InfluxQL.from('qw_incidents').select('last', 'open', { as: 'open' }).within(LIVE_WINDOW)).refId('A'))
    .reduceOptions(reduceLast())
    .colorMode(common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.None)
    .thresholds(thresholds([null, 'green'], [1, 'red']))
    .noValue(NO_DATA)
    .decimals(0);

  const [writing, lastData] = freshnessPanels(3, 12);

  const probeSuccess = new StatPanel()
    .title('Probe success')
    .description('Share of probes whose synthetic event arrived, over the time range.')
    .height(7)
    .span(8)
    .datasource(DATASOURCE)
    .withTarget(
      target(InfluxQL.from('qw_probe').select('mean', 'ok', { as: 'success', math: '* 100' }).groupBy('check'))
        .refId('A')
        .alias('$tag_check'),
    )
    .reduceOptions(reduceLast())
    .unit('percent')
    .decimals(0)
    .min(0)
    .max(100)
    .colorMode(common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.None)
    .textMode(common.BigValueTextMode.ValueAndName)
    .thresholds(thresholds([null, 'red'], [90, 'orange'], [99, 'green']));

  const probeLatency = new TimeseriesPanel()
    .title('Probe latency')
    .height(7)
    .span(12)
    .datasource(DATASOURCE)
    .withTarget(
      target(
        InfluxQL.from('qw_probe')
          .select('mean', 'latency_ms', { as: 'latency' })
          .where('result', 'proven')
          .groupByTime('$__interval')
          .groupBy('check')
          .fill('none'),
      )
        .refId('A')
        .alias('$tag_check'),
    )
    .unit('ms')
    .lineWidth(2)
    .showPoints(common.VisibilityMode.Always)
    .legend(new common.VizLegendOptionsBuilder().showLegend(true).displayMode(common.LegendDisplayMode.List).placement(common.LegendPlacement.Bottom));

  const eventsVsNormal = new TimeseriesPanel()
    .title('Events per minute vs learned normal')
    .description('Real (non-synthetic) events per minute per stream; dashed: the learned normal where known.')
    .height(9)
    .span(16)
    .datasource(DATASOURCE)
    .withTarget(
      target(
        InfluxQL.from('qw_events')
          .select('mean', 'per_min', { as: 'events/min' })
          .where('synthetic', 'false')
          .groupByTime('$__interval')
          .groupBy('stream')
          .fill('none'),
      )
        .refId('A')
        .alias('$tag_stream'),
    )
    .withTarget(
      target(InfluxQL.from('qw_check').select('mean', 'expected_per_min', { as: 'normal' }).groupByTime('$__interval').groupBy('stream').fill('none'))
        .refId('B')
        .alias('$tag_stream normal'),
    )
    .unit('short')
    .lineWidth(3)
    .overrideByQuery('B', [
      { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
      { id: 'custom.lineWidth', value: 2 },
    ])
    .legend(new common.VizLegendOptionsBuilder().showLegend(true).displayMode(common.LegendDisplayMode.List).placement(common.LegendPlacement.Bottom));

  const notifications = new TimeseriesPanel()
    .title('Notifications')
    .height(9)
    .span(8)
    .datasource(DATASOURCE)
    .withTarget(
      target(InfluxQL.from('qw_notification').select('sum', 'count', { as: 'notifications' }).groupByTime('$__interval').groupBy('outcome').fill('none'))
        .refId('A')
        .alias('$tag_outcome'),
    )
    .drawStyle(common.GraphDrawStyle.Bars)
    .fillOpacity(80)
    .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal))
    .decimals(0)
    .overrideByName('delivered', [{ id: 'color', value: fixedColor('green').build() }])
    .overrideByName('retry', [{ id: 'color', value: fixedColor('orange').build() }])
    .overrideByName('failed', [{ id: 'color', value: fixedColor('red').build() }]);

  const health = new StatPanel()
    .title('quietwatch health')
    .height(4)
    .span(24)
    .datasource(DATASOURCE)
    .withTarget(target(InfluxQL.from('qw_health').select('last', 'ok', { as: 'ok' }).groupBy('component').within(LIVE_WINDOW)).refId('A').alias('$tag_component'))
    .reduceOptions(reduceLast())
    .mappings(UP_MAPPINGS)
    .noValue(NO_DATA)
    .colorScheme(new FieldColorBuilder().mode(FieldColorModeId.Thresholds))
    .thresholds(thresholds([null, 'red']))
    .colorMode(common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.None)
    .textMode(common.BigValueTextMode.ValueAndName)
    .orientation(common.VizOrientation.Vertical);

  const d = new DashboardBuilder('quietwatch — office screen')
    .uid(OFFICE_SCREEN_UID)
    .description('Every check at a glance, for a screen across the room.')
    .tags(['quietwatch'])
    .refresh('5s')
    .time({ from: 'now-1h', to: 'now' })
    .timezone('browser')
    .tooltip(DashboardCursorSync.Crosshair)
    .withVariable(checkVariable({ multi: true, hide: true }))
    .link(otherDashboard('Check drill-down', DRILLDOWN_UID))
    .withPanel(tile)
    .withPanel(writing)
    .withPanel(lastData)
    .withPanel(incidents)
    .withPanel(probeSuccess)
    .withPanel(probeLatency)
    .withPanel(eventsVsNormal)
    .withPanel(notifications)
    .withPanel(health)
    .build();
  // Freshness across the top, the repeated tiles in a row of their own under it (a horizontally
  // repeated panel fills its row with its copies: nothing may sit beside it).
  const panels = (d.panels ?? []) as Panel[];
  const byTitle = (t: string) => panels.find((p) => p.title === t)!;
  byTitle('quietwatch writing').gridPos = { x: 0, y: 0, w: 12, h: 3 };
  byTitle('Last data from quietwatch').gridPos = { x: 12, y: 0, w: 12, h: 3 };
  byTitle('$check').gridPos = { x: 0, y: 3, w: 4, h: 6 };
  for (const p of panels) if (!['quietwatch writing', 'Last data from quietwatch', '$check'].includes(p.title ?? '') && p.gridPos) p.gridPos = { ...p.gridPos, y: p.gridPos.y + 3 };
  return d;
}

// ---- drill-down -----------------------------------------------------------------------------------

export function checkDrilldown(): Dashboard {
  const stream = new QueryVariableBuilder('stream')
    .label('Stream')
    .datasource(DATASOURCE)
    .query(showTagValues('qw_check', 'stream', { tag: 'check', variable: 'check' }))
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .hide(VariableHide.HideVariable)
    .multi(true)
    .includeAll(true)
    .current({ text: 'All', value: '$__all', selected: true });

  const smallStat = (title: string, w = 4) =>
    new StatPanel()
      .title(title)
      .height(5)
      .span(w)
      .datasource(DATASOURCE)
      .reduceOptions(reduceLast())
      .graphMode(common.BigValueGraphMode.None)
      .colorMode(common.BigValueColorMode.Background);

  const state = smallStat('State')
    .withTarget(target(InfluxQL.from('qw_check').select('last', 'state_code', { as: 'state' }).whereVariable('check', 'check').within(LIVE_WINDOW)).refId('A'))
    .mappings(STATE_MAPPINGS)
    .noValue(NO_DATA)
    .colorScheme(new FieldColorBuilder().mode(FieldColorModeId.Thresholds))
    .thresholds(thresholds([null, 'red']));

  const since = smallStat('Since last event')
    .withTarget(
      target(
        InfluxQL.from('qw_check')
          .select('last', 'seconds_since_last_event', { as: 'since last event' })
          .column('quiet_after_s', 'quiet after')
          .column('page_after_s', 'page after')
          .whereVariable('check', 'check')
          .within(LIVE_WINDOW),
      ).refId('A'),
    )
    .noValue(NO_DATA)
    .reduceOptions(reduceLast().fields('/^since last event$/'))
    .unit('s')
    .decimals(0)
    .colorMode(common.BigValueColorMode.Value)
    .colorScheme(fixedColor('text'));

  const probeSuccess = smallStat('Probe success')
    .withTarget(target(InfluxQL.from('qw_probe').select('mean', 'ok', { as: 'success', math: '* 100' }).whereVariable('check', 'check')).refId('A'))
    .unit('percent')
    .decimals(0)
    .thresholds(thresholds([null, 'red'], [90, 'orange'], [99, 'green']));

  const probeCost = smallStat('Probe cost (minor units)')
    .withTarget(
      target(InfluxQL.from('qw_probe').select('sum', 'cost_minor', { as: 'cost' }).whereVariable('check', 'check').groupBy('currency'))
        .refId('A')
        .alias('$tag_currency'),
    )
    .textMode(common.BigValueTextMode.ValueAndName)
    .colorMode(common.BigValueColorMode.None)
    .decimals(0);

  const [drillWriting] = freshnessPanels(5, 4);
  const flips = smallStat('Flips', 4)
    .withTarget(target(InfluxQL.from('qw_flip').select('count', 'to_code', { as: 'flips' }).whereVariable('check', 'check')).refId('A'))
    .colorMode(common.BigValueColorMode.None)
    .decimals(0);

  const timeline = new StateTimelinePanel()
    .title('State over time')
    .height(5)
    .span(24)
    .datasource(DATASOURCE)
    .withTarget(
      // fill(null), not fill(previous): previous would paint the last state up to now after
      // quietwatch stopped. Buckets are at least 10 s (it writes every 5 s), so a live check has no
      // holes; gaps up to a minute are bridged, longer ones show as no data.
      target(InfluxQL.from('qw_check').select('last', 'state_code', { as: 'state' }).whereVariable('check', 'check').groupByTime('$__interval').fill('null')).refId('A'),
    )
    .interval('10s')
    .spanNulls(60_000)
    .mappings(STATE_MAPPINGS)
    .showValue(common.VisibilityMode.Never)
    .mergeValues(true);

  const sinceVsLimits = new TimeseriesPanel()
    .title('Seconds since last event vs limits')
    .height(8)
    .span(12)
    .datasource(DATASOURCE)
    .withTarget(
      target(
        InfluxQL.from('qw_check')
          .select('max', 'seconds_since_last_event', { as: 'since last event' })
          .select('max', 'quiet_after_s', { as: 'quiet after' })
          .select('max', 'page_after_s', { as: 'page after' })
          .whereVariable('check', 'check')
          .groupByTime('$__interval')
          .fill('none'),
      ).refId('A'),
    )
    .unit('s')
    .overrideByName('quiet after', [{ id: 'color', value: fixedColor('orange').build() }, { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }])
    .overrideByName('page after', [{ id: 'color', value: fixedColor('red').build() }, { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }]);

  const eventsVsNormal = new TimeseriesPanel()
    .title('Events per minute vs learned normal')
    .height(8)
    .span(12)
    .datasource(DATASOURCE)
    .withTarget(
      target(
        InfluxQL.from('qw_events')
          .select('mean', 'per_min', { as: 'events/min' })
          .whereVariable('stream', 'stream')
          .groupByTime('$__interval')
          .groupBy('synthetic')
          .fill('none'),
      )
        .refId('A')
        .alias('events/min (synthetic=$tag_synthetic)'),
    )
    .withTarget(
      target(InfluxQL.from('qw_check').select('mean', 'expected_per_min', { as: 'normal' }).whereVariable('check', 'check').groupByTime('$__interval').fill('none'))
        .refId('B')
        .alias('normal'),
    )
    .overrideByQuery('B', [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }]);

  const lag = new TimeseriesPanel()
    .title('Pipeline lag')
    .height(8)
    .span(12)
    .datasource(DATASOURCE)
    .withTarget(
      target(
        InfluxQL.from('qw_lag')
          .select('mean', 'mean_ms', { as: 'mean' })
          .select('max', 'max_ms', { as: 'max' })
          .whereVariable('stream', 'stream')
          .groupByTime('$__interval')
          .fill('none'),
      ).refId('A'),
    )
    .unit('ms');

  const probeLatency = new TimeseriesPanel()
    .title('Probe latency')
    .height(8)
    .span(12)
    .datasource(DATASOURCE)
    .withTarget(
      target(InfluxQL.from('qw_probe').select('mean', 'latency_ms', { as: 'latency' }).whereVariable('check', 'check').groupByTime('$__interval').groupBy('result').fill('none'))
        .refId('A')
        .alias('$tag_result'),
    )
    .unit('ms')
    .showPoints(common.VisibilityMode.Always);

  const flipTable = new TablePanel()
    .title('Flips')
    .height(8)
    .span(24)
    .datasource(DATASOURCE)
    .withTarget(
      target(
        InfluxQL.from('qw_flip').column('from_state', 'from').column('to_state', 'to').column('reason').whereVariable('check', 'check').newestFirst().limit(200),
      )
        .refId('A')
        .table(),
    );

  return new DashboardBuilder('quietwatch — check drill-down')
    .uid(DRILLDOWN_UID)
    .description('One check in detail.')
    .tags(['quietwatch'])
    .refresh('10s')
    .time({ from: 'now-6h', to: 'now' })
    .timezone('browser')
    .tooltip(DashboardCursorSync.Crosshair)
    .withVariable(checkVariable({ multi: false, hide: false }))
    .withVariable(stream)
    .link(otherDashboard('Office screen', OFFICE_SCREEN_UID))
    .withPanel(state)
    .withPanel(since)
    .withPanel(drillWriting)
    .withPanel(probeSuccess)
    .withPanel(probeCost)
    .withPanel(flips)
    .withPanel(timeline)
    .withPanel(sinceVsLimits)
    .withPanel(eventsVsNormal)
    .withPanel(lag)
    .withPanel(probeLatency)
    .withPanel(flipTable)
    .build();
}

// ---- for the generator and the tests --------------------------------------------------------------

export const DASHBOARDS: Record<string, () => Dashboard> = {
  'office-screen.json': officeScreen,
  'check-drilldown.json': checkDrilldown,
};

export interface PanelQuery {
  dashboard: string;
  panel: string;
  refId: string;
  query: string;
  expect: QueryExpectation;
}

/** The datasource input of the importable JSON (Dashboards > New > Import asks for it). */
export const DS_INPUT = 'DS_QUIETWATCH_INFLUXDB';

/**
 * The same dashboard for Grafana's UI import: `__inputs` names the datasource to pick, `__requires`
 * the minimum Grafana and the panel plugins, and every datasource reference becomes `${DS_…}`
 * (the provisioned JSON keeps the fixed uid its datasource provisioning gives).
 */
export function importable(d: Dashboard): Record<string, unknown> {
  const panelTypes = [...new Set(((d.panels ?? []) as Panel[]).map((p) => p.type))].sort();
  const NAMES: Record<string, string> = { stat: 'Stat', 'state-timeline': 'State timeline', table: 'Table', timeseries: 'Time series' };
  const json = JSON.stringify(d).replaceAll(JSON.stringify(DATASOURCE.uid), JSON.stringify(`\${${DS_INPUT}}`));
  return {
    __inputs: [{ name: DS_INPUT, label: 'quietwatch InfluxDB', description: 'InfluxDB (InfluxQL) that quietwatch writes to', type: 'datasource', pluginId: 'influxdb', pluginName: 'InfluxDB' }],
    __requires: [
      { type: 'grafana', id: 'grafana', name: 'Grafana', version: MIN_GRAFANA },
      { type: 'datasource', id: 'influxdb', name: 'InfluxDB', version: '1.0.0' },
      ...panelTypes.map((t) => ({ type: 'panel', id: t, name: NAMES[t] ?? t, version: '' })),
    ],
    ...JSON.parse(json),
  };
}

/** Every InfluxQL target of every panel of every dashboard, with what it should return. */
export function allPanelQueries(): PanelQuery[] {
  const out: PanelQuery[] = [];
  for (const [file, make] of Object.entries(DASHBOARDS)) {
    const d = make();
    for (const p of (d.panels ?? []) as Panel[]) {
      for (const t of (p.targets ?? []) as InfluxQLTarget[]) {
        if (!t.expect) throw new Error(`${file} / ${p.title}: target ${t.refId} was not built with the InfluxQL builder`);
        out.push({ dashboard: file, panel: p.title ?? '', refId: t.refId, query: t.query, expect: t.expect });
      }
    }
  }
  return out;
}

/** Every template variable's query, per dashboard. */
export function allVariableQueries(): { dashboard: string; name: string; query: string }[] {
  const out: { dashboard: string; name: string; query: string }[] = [];
  for (const [file, make] of Object.entries(DASHBOARDS)) {
    for (const v of make().templating?.list ?? []) if (typeof v.query === 'string') out.push({ dashboard: file, name: v.name, query: v.query });
  }
  return out;
}

export type { DashboardLink };
