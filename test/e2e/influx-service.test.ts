/**
 * The whole service against a real InfluxDB (Debian's influxd 1.6 + the v2 write gateway of
 * test/influx/server.ts), with real HTTP everywhere: the sandbox pipeline, the sandbox probe driver,
 * a signed webhook receiver for alerts. No mocks.
 *
 * 1. The service writes every measurement, and every panel query and template variable of every
 *    dashboard, expanded as Grafana expands it, returns the series its panel expects.
 * 2. influxd killed mid-run: pages still go out, /readyz says "degraded: metrics", drops are counted
 *    on /metrics past the buffer bound; influxd restarted on the same port and data: writing resumes.
 * 3. An InfluxDB-fed check (`checks[].source`): ok while points arrive, quiet then down when they
 *    stop, ok again when they resume.
 * 4./5. Regression tests for wiring bugs found here (open incidents reported at start and
 *    periodically; a redelivered probe transaction counted once; card-token probes are synthetic).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIVE_WINDOW, NO_DATA } from '../../dashboards/grafana/dashboards.ts';
import { allPanelQueries, allVariableQueries } from '../../dashboards/grafana/generate.ts';
import { MEASUREMENTS } from '../../src/metrics/measurements.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../contract/webhook-receiver.ts';
import { startService, tempDir, type Running } from '../helpers/service.ts';
import { expandQuery, type TimeRange } from '../influx/grafana.ts';
import { startInfluxWithGateway, startInfluxd, type Gateway, type InfluxServer, type Series } from '../influx/server.ts';

const WEBHOOK_SECRET = 'e2e-webhook-secret-0123456789';

async function until<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

type Notified = { action: string; check: string; severity: string; at: number };
/** What the webhook receiver got: verified (HMAC) notifications, with the wall time they arrived. */
function trackWebhook(rx: WebhookReceiver): { all(): Notified[]; has(action: string, check: string, after?: number): Notified | undefined } {
  const seen: Notified[] = [];
  let read = 0;
  const sync = () => {
    for (; read < rx.received.length; read++) {
      const r = rx.received[read]!;
      expect(r.verified, `webhook signature: ${r.body}`).toBe(true);
      const n = (r.json as { notification: { action: string; check: string; severity: string } }).notification;
      seen.push({ action: n.action, check: n.check, severity: n.severity, at: Date.now() });
    }
  };
  return {
    all: () => (sync(), [...seen]),
    has: (action, check, after = 0) => (sync(), seen.find((n) => n.action === action && n.check === check && n.at >= after)),
  };
}

async function checkStatus(svc: Running, name: string): Promise<string> {
  const r = await svc.fetch(`/v1/checks/${encodeURIComponent(name)}`);
  expect(r.status).toBe(200);
  return r.body.status as string;
}

async function setPipeline(svc: Running, mode: 'healthy' | 'quiet' | 'broken'): Promise<void> {
  const r = await svc.fetch('/v1/sandbox/pipeline', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode }) });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  expect(r.body.mode).toBe(mode);
}

function sandboxYaml(opts: { webhookUrl: string; influx: string }): string {
  return `
metrics:
  stateInterval: 200ms
  influxdb:
${opts.influx}
sandbox:
  acquirerDelay: 200ms
  streams:
    - stream: card-auth
      ratePerSec: 20
      nightFactor: 1
      attributes: { scheme: [visa, mastercard] }
probes:
  drivers:
    acquirer: { type: sandbox }
alerts:
  notifiers:
    hook: { type: webhook, url: "${opts.webhookUrl}", secret: "\${WEBHOOK_SECRET}", timeoutMs: 2000 }
  routes:
    default: { page: [hook], warning: [hook] }
  retry: { minDelay: 100ms, maxDelay: 500ms, maxAttempts: 5, deadline: 10s }
  # one incident per check here: this test follows each check's own notifications into InfluxDB
  group: { by: none }
`;
}

const promValue = (text: string, metric: string): number | undefined => {
  const m = new RegExp(`^${metric} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
};

// ------------------------------------------------------------------------------------------------
// 1. every measurement, every dashboard query
// ------------------------------------------------------------------------------------------------

describe('the service against a real InfluxDB: every measurement, every dashboard query', () => {
  const DB = 'qw_e2e';
  let influx: InfluxServer;
  let gw: Gateway;
  let rx: WebhookReceiver;
  let svc: Running;
  let hooks: ReturnType<typeof trackWebhook>;
  let startedAt: number;
  /** The check with a probe, and one without (mastercard only) on the same stream. */
  const PROBED = 'card-auth';
  const PLAIN = 'card-auth-mc';
  const CHECK_STREAM: Record<string, string> = { [PROBED]: 'card-auth', [PLAIN]: 'card-auth' };
  const q = (text: string) => influx.query(text, DB);

  beforeAll(async () => {
    ({ influx, gw } = await startInfluxWithGateway(DB));
    rx = await startWebhookReceiver({ secret: WEBHOOK_SECRET });
    hooks = trackWebhook(rx);
    startedAt = Date.now();
    svc = await startService(
      `${sandboxYaml({
        webhookUrl: rx.url,
        influx: `    url: ${gw.url}
    org: x
    bucket: ${DB}
    flushInterval: 200ms
    maxRetryDelay: 500ms
    timeout: 2s`,
      })}
checks:
  - name: ${PROBED}
    stream: card-auth
    quietAfter: 1s
    pageAfter: 3s
    labels: { team: payments }
    probe: { driver: acquirer, timeout: 1s, amount: 50, currency: EUR, backoff: { factor: 1 } }
  - name: ${PLAIN}
    stream: card-auth
    match: { scheme: mastercard }
    quietAfter: 1s
    pageAfter: 3s
`,
      { env: { WEBHOOK_SECRET } },
    );

    // healthy traffic first
    await until('both checks ok', async () => (await checkStatus(svc, PROBED)) === 'ok' && (await checkStatus(svc, PLAIN)) === 'ok');
    await until('a second of traffic', async () => (await svc.fetch('/v1/sandbox/pipeline')).body.stats.trafficEmitted >= 20);

    // quiet: no real traffic, the probe's synthetic transaction still comes through -> proven
    await setPipeline(svc, 'quiet');
    await until('a proven probe', async () => (await svc.fetch(`/v1/probes?check=${PROBED}`)).body.probes.some((p: { result: string }) => p.result === 'proven'));
    await until('the quiet warning of the check without a probe', () => hooks.has('warning', PLAIN));

    // broken: the next probe is charged and swallowed -> lost -> down -> page
    await setPipeline(svc, 'broken');
    await until('card-auth down', async () => (await checkStatus(svc, PROBED)) === 'down');
    await until('card-auth-mc down', async () => (await checkStatus(svc, PLAIN)) === 'down');
    await until('both pages delivered', () => hooks.has('trigger', PROBED) && hooks.has('trigger', PLAIN));
    const lost = (await svc.fetch(`/v1/probes?check=${PROBED}`)).body.probes.filter((p: { result: string }) => p.result === 'lost');
    expect(lost.length).toBeGreaterThan(0);

    // healthy again: recovered, resolved
    await setPipeline(svc, 'healthy');
    await until('both checks ok again', async () => (await checkStatus(svc, PROBED)) === 'ok' && (await checkStatus(svc, PLAIN)) === 'ok');
    await until('both resolves delivered', () => hooks.has('resolve', PROBED) && hooks.has('resolve', PLAIN));

    // wait for a flush: every delivered notification is in InfluxDB, and the state after recovery too
    // (each delivery is its own point: two resolves delivered in the same millisecond once counted as one)
    let seen = { delivered: 0, inInflux: 0 };
    await until(
      'every delivered notification in InfluxDB',
      async () => {
        const r = await q(`SELECT count("count") FROM "qw_notification" WHERE "outcome" = 'delivered'`);
        seen = { delivered: hooks.all().length, inInflux: Number(r.results[0]!.series?.[0]?.values[0]?.[1] ?? 0) };
        return seen.inInflux === seen.delivered;
      },
      10_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message} (last seen: ${JSON.stringify(seen)})`);
    });
    const okAt = Date.now();
    await until(
      'a state point after recovery for each check',
      async () => {
        const r = await q(`SELECT last("state_code") FROM "qw_check" WHERE time >= ${okAt}ms GROUP BY "check"`);
        return (r.results[0]!.series ?? []).filter((s) => s.values[0]?.[1] === 0).length === 2;
      },
      10_000,
    );
    await until('open incidents back to 0 in InfluxDB', async () => {
      const r = await q(`SELECT last("open") FROM "qw_incidents"`);
      return r.results[0]!.series?.[0]?.values[0]?.[1] === 0;
    });
  }, 60_000);

  afterAll(async () => {
    await svc?.close();
    await rx?.close();
    await gw?.close();
    await influx?.stop();
  });

  it('drove the service through flips, proven and lost probes, an incident and delivered notifications', async () => {
    const actions = hooks.all().map((n) => `${n.action}:${n.check}`);
    expect(actions).toEqual(expect.arrayContaining([`warning:${PLAIN}`, `trigger:${PROBED}`, `trigger:${PLAIN}`, `resolve:${PROBED}`, `resolve:${PLAIN}`]));
    const incidents = (await svc.fetch('/v1/incidents')).body.incidents as { check: string }[];
    expect(new Set(incidents.map((i) => i.check))).toEqual(new Set([PROBED, PLAIN]));
    const ready = await svc.fetch('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', degraded: [] });
    expect(ready.body.components.metrics.detail).toMatchObject({ ok: true, dropped: 0 });
    expect(svc.svc.metrics.influx!.written()).toBeGreaterThan(0);
  });

  it('writes every measurement with its tags and fields', async () => {
    const res = await q('SHOW FIELD KEYS');
    const fields = Object.fromEntries((res.results[0]!.series ?? []).map((s) => [s.name, s.values.map((v) => v[0])]));
    const tags = await q('SHOW TAG KEYS');
    const tagKeys = Object.fromEntries((tags.results[0]!.series ?? []).map((s) => [s.name, s.values.map((v) => v[0])]));
    for (const [m, def] of Object.entries(MEASUREMENTS)) {
      expect(fields[m], `measurement ${m}`).toBeDefined();
      for (const f of def.fields) {
        // expected_per_min is the learned normal, written only where known: these checks have fixed limits
        if (m === 'qw_check' && f === 'expected_per_min') continue;
        expect(fields[m], `${m}.${f}`).toContain(f);
      }
      for (const t of def.tags) expect(tagKeys[m], `${m} tag ${t}`).toContain(t);
    }
    expect(tagKeys.qw_check, 'a check label becomes a tag').toContain('team');
    // what the service did, as facts
    const kinds = await q(`SHOW TAG VALUES FROM "qw_notification" WITH KEY = "kind"`);
    expect(kinds.results[0]!.series![0]!.values.map((v) => v[1])).toEqual(expect.arrayContaining(['trigger', 'resolve', 'warning']));
    const results = await q(`SHOW TAG VALUES FROM "qw_probe" WITH KEY = "result"`);
    expect(results.results[0]!.series![0]!.values.map((v) => v[1])).toEqual(expect.arrayContaining(['proven', 'lost']));
    const toStates = await q(`SHOW TAG VALUES FROM "qw_flip" WITH KEY = "to_state" WHERE "check" = '${PROBED}'`);
    expect(toStates.results[0]!.series![0]!.values.map((v) => v[1]).sort()).toEqual(['down', 'ok', 'quiet']);
    const maxOpen = await q(`SELECT max("open") FROM "qw_incidents"`);
    expect(maxOpen.results[0]!.series![0]!.values[0]![1]).toBeGreaterThanOrEqual(1);
    // every event the sandbox put on the stream is counted, real and synthetic apart
    const synth = await q(`SELECT sum("count") FROM "qw_events" GROUP BY "synthetic"`);
    const bySynth = Object.fromEntries(synth.results[0]!.series!.map((s) => [s.tags!.synthetic, s.values[0]![1] as number]));
    const stats = (await svc.fetch('/v1/sandbox/pipeline')).body.stats;
    expect(bySynth.false).toBeGreaterThanOrEqual(20);
    expect(bySynth.false).toBeLessThanOrEqual(stats.trafficEmitted); // traffic goes on after the last flush
    expect(bySynth.true).toBe(stats.probeTransactionsEmitted); // the proven probes' transactions
    expect(stats.probeTransactionsEmitted).toBeGreaterThanOrEqual(1);
  });

  it('every template variable query lists what the service wrote', async () => {
    const vars = allVariableQueries();
    expect(vars.length).toBeGreaterThanOrEqual(3);
    for (const v of vars) {
      const selections = v.query.includes('${check:regex}') ? [[PROBED], [PLAIN], [PROBED, PLAIN]] : [[]];
      for (const checks of selections) {
        const text = expandQuery(v.query, { range: { relative: '5m' }, interval: '1s', vars: { check: checks } });
        const r = await q(text);
        const values = r.results[0]!.series?.[0]?.values.map((x) => x[1]).sort() ?? [];
        if (v.name === 'check') expect(values, text).toEqual([PROBED, PLAIN].sort());
        else if (v.name === 'stream') expect(values, text).toEqual([...new Set(checks.map((c) => CHECK_STREAM[c]!))].sort());
        else expect(values.length, `${v.dashboard} / ${v.name}: ${text}`).toBeGreaterThan(0);
      }
    }
  });

  // Which grouped series each panel must show, from what the service did above.
  const GROUP_VALUES: Record<string, string[]> = {
    check: [PROBED], // only card-auth probes
    stream: ['card-auth'],
    synthetic: ['false', 'true'],
    outcome: ['delivered'],
    component: ['alerts', 'effects', 'leader', 'metrics', 'quietwatch', 'store'],
    currency: ['eur'],
    result: ['proven'], // latency is known for proven probes only
  };
  const needsLearnedNormal = (query: string) => query.includes('"expected_per_min"');
  const isProbeQuery = (query: string) => query.includes('FROM "qw_probe"');

  function assertSeries(series: Series[] | undefined, columns: string[], groupTags: string[], where: string): void {
    expect(series, `${where}: no series`).toBeDefined();
    expect(series!.length, `${where}: empty`).toBeGreaterThan(0);
    for (const s of series!) {
      expect(s.columns, where).toEqual(columns);
      const hasValue = s.values.some((row) => row.slice(1).some((v) => v !== null));
      expect(hasValue, `${where}: only nulls`).toBe(true);
    }
    for (const tag of groupTags) {
      const seen = series!.map((s) => s.tags?.[tag]).sort();
      expect(seen, `${where}: series by ${tag}`).toEqual(GROUP_VALUES[tag]);
    }
  }

  const panelQueries = allPanelQueries();
  const ranges = (): [string, TimeRange][] => [
    ['relative 5m', { relative: '5m' }],
    ['absolute', { from: startedAt - 60_000, to: Date.now() + 60_000 }],
  ];

  it('has the panels of both dashboards to run', () => {
    expect(panelQueries.length).toBeGreaterThanOrEqual(15);
    expect(new Set(panelQueries.map((p) => p.dashboard))).toEqual(new Set(['office-screen.json', 'check-drilldown.json']));
  });

  for (const pq of panelQueries.filter((p) => !needsLearnedNormal(p.query))) {
    it(`${pq.dashboard} / ${pq.panel} / ${pq.refId} returns its series`, async () => {
      const perCheck = pq.query.includes('${check:regex}');
      const selections = perCheck ? [[PROBED], [PLAIN], [PROBED, PLAIN]] : [[PROBED, PLAIN]];
      for (const [rangeName, range] of ranges()) {
        for (const interval of ['1s', '10s']) {
          for (const checks of selections) {
            const streams = [...new Set(checks.map((c) => CHECK_STREAM[c]!))];
            const text = expandQuery(pq.query, { range, interval, vars: { check: checks, stream: streams } });
            const series = (await q(text)).results[0]!.series;
            const where = `[${rangeName}, ${interval}, check=${checks.join('|')}] ${text}`;
            if (perCheck && isProbeQuery(pq.query) && !checks.includes(PROBED)) {
              // a check without a probe has no probe series: the panel says "No data", by design
              expect(series, where).toBeUndefined();
              continue;
            }
            assertSeries(series, pq.expect.columns, pq.expect.groupTags, where);
          }
        }
      }
    });
  }

  it('panels that show the learned normal run without error (no normal is known for fixed limits)', async () => {
    const normal = panelQueries.filter((p) => needsLearnedNormal(p.query));
    expect(normal.length).toBe(2);
    for (const pq of normal) {
      const text = expandQuery(pq.query, { range: { relative: '5m' }, interval: '1s', vars: { check: [PROBED], stream: ['card-auth'] } });
      const series = (await q(text)).results[0]!.series; // throws on an InfluxQL error
      // Fixed limits carry no expected rate, so no expected_per_min is written ("where known").
      // Filling these panels from the service needs a check with a learned model (quietAfter: auto
      // and enough history); then move these queries into the strict test above.
      expect(series, text).toBeUndefined();
    }
  });

  it('the panels show the right values: tile state, flips with reasons, probe success and cost', async () => {
    const exp = (query: string, checks: string[]) => expandQuery(query, { range: { relative: '5m' }, interval: '1s', vars: { check: checks, stream: ['card-auth'] } });
    const find = (dashboard: string, panel: string, column?: string) =>
      panelQueries.find((p) => p.dashboard === dashboard && p.panel === panel && (!column || p.expect.columns.includes(column)))!;

    // office tile of each check: OK now, a live seconds-since counter
    const tile = find('office-screen.json', '$check', 'since last event');
    for (const c of [PROBED, PLAIN]) {
      const row = (await q(exp(tile.query, [c]))).results[0]!.series![0]!.values[0]!;
      expect(row[1], `${c} state`).toBe(0);
      expect(row[2] as number, `${c} since last event`).toBeLessThan(2);
    }

    // drill-down flips: the same flips the API lists, with the engine's reasons
    const flipsTable = find('check-drilldown.json', 'Flips', 'reason');
    const flipCount = find('check-drilldown.json', 'Flips', 'flips');
    for (const c of [PROBED, PLAIN]) {
      const api = (await svc.fetch(`/v1/checks/${c}?flips=500`)).body.flips as unknown[];
      const rows = (await q(exp(flipsTable.query, [c]))).results[0]!.series![0]!.values;
      expect(rows.length, c).toBe(api.length);
      expect((await q(exp(flipCount.query, [c]))).results[0]!.series![0]!.values[0]![1]).toBe(api.length);
      // newest first, as the API lists them; the recovery is among them (the newest may be a later
      // quiet -> ok: a loaded machine can leave the sandbox's mastercard share silent for a second)
      const newest = api[0] as { from: string; to: string };
      expect(rows[0]!.slice(1, 3), `${c}: newest flip first`).toEqual([newest.from, newest.to]);
      expect(rows.some((r) => r[1] === 'down' && r[2] === 'ok'), `${c}: the recovery`).toBe(true);
    }
    const probedRows = (await q(exp(flipsTable.query, [PROBED]))).results[0]!.series![0]!.values;
    expect(probedRows.some((r) => r[2] === 'down' && /probe \S+ lost/.test(String(r[3]))), 'a flip to down because the probe was lost').toBe(true);
    expect(probedRows.some((r) => r[2] === 'ok' && /probe \S+ proven/.test(String(r[3]))), 'a flip to ok because the probe was proven').toBe(true);

    // probe success: some proven, some lost; cost: 50 minor units per probe that charged
    const success = find('check-drilldown.json', 'Probe success');
    const pct = (await q(exp(success.query, [PROBED]))).results[0]!.series![0]!.values[0]![1] as number;
    expect(pct).toBeGreaterThan(0);
    expect(pct).toBeLessThan(100);
    const cost = find('check-drilldown.json', 'Probe cost (minor units)');
    const apiProbes = (await svc.fetch(`/v1/probes?check=${PROBED}&limit=500`)).body.probes as { result: string; costMinor: number }[];
    const settled = apiProbes.filter((p) => p.result === 'proven' || p.result === 'lost');
    expect((await q(exp(cost.query, [PROBED]))).results[0]!.series![0]!.values[0]![1]).toBe(50 * settled.length);
  });

  // Last in this block: it stops the service. A real wait, since the panels ask InfluxDB for
  // `now() - 40s` by the server's own clock.
  it('once the service is stopped, every "now" panel reads nothing and the freshness panel shows the last data aging', async () => {
    const live = panelQueries.filter((p) => p.expect.live);
    expect(live.length).toBeGreaterThan(5);
    const vars = { check: [PROBED, PLAIN], stream: ['card-auth'] };
    const run = async (pq: (typeof live)[number]) => (await q(expandQuery(pq.query, { range: { relative: '5m' }, interval: '1s', vars }))).results[0]!.series;
    // while it runs, they all have data
    for (const pq of live) expect((await run(pq))?.length ?? 0, `running: ${pq.dashboard} / ${pq.panel}`).toBeGreaterThan(0);
    await svc.close();
    const stoppedAt = Date.now();
    svc = undefined as unknown as Running; // closed: afterAll has nothing left to close
    await new Promise((r) => setTimeout(r, Number.parseInt(LIVE_WINDOW, 10) * 1000 + 1_500));
    for (const pq of live) expect(await run(pq), `stopped: ${pq.dashboard} / ${pq.panel} (Grafana shows "${NO_DATA}")`).toBeUndefined();
    const last = panelQueries.find((p) => p.dashboard === 'office-screen.json' && p.panel === 'Last data from quietwatch')!;
    const row = (await q(expandQuery(last.query, { range: { relative: '1h' }, interval: '10s' }))).results[0]!.series![0]!.values[0]!;
    const lastAt = typeof row[0] === 'number' ? row[0] : Date.parse(String(row[0]));
    expect(lastAt).toBeLessThanOrEqual(stoppedAt);
    expect(Date.now() - lastAt).toBeGreaterThan(Number.parseInt(LIVE_WINDOW, 10) * 1000);
  }, 90_000);
});

// ------------------------------------------------------------------------------------------------
// 2. InfluxDB outage
// ------------------------------------------------------------------------------------------------

describe('the service through an InfluxDB outage', () => {
  const DB = 'qw_outage';
  let influx: InfluxServer;
  let gw: Gateway;
  let rx: WebhookReceiver;
  let svc: Running;

  beforeAll(async () => {
    ({ influx, gw } = await startInfluxWithGateway(DB));
    rx = await startWebhookReceiver({ secret: WEBHOOK_SECRET });
  });

  afterAll(async () => {
    await svc?.close();
    await rx?.close();
    await gw?.close();
    await influx?.stop();
  });

  it('keeps paging, says metrics degraded, counts drops, and resumes writing when influxd returns', async () => {
    const hooks = trackWebhook(rx);
    svc = await startService(
      `${sandboxYaml({
        webhookUrl: rx.url,
        influx: `    url: ${gw.url}
    org: x
    bucket: ${DB}
    flushInterval: 200ms
    batchSize: 10
    maxBufferPoints: 30
    maxRetryDelay: 300ms
    timeout: 1s`,
      })}
checks:
  - name: card-auth
    quietAfter: 1s
    pageAfter: 3s
    probe: { driver: acquirer, timeout: 1s }
`,
      { env: { WEBHOOK_SECRET } },
    );
    const stateCount = async (since: number) => {
      const r = await influx.query(`SELECT count("state_code") FROM "qw_check" WHERE time >= ${since}ms`, DB);
      return Number(r.results[0]!.series?.[0]?.values[0]?.[1] ?? 0);
    };
    await until('card-auth ok', async () => (await checkStatus(svc, 'card-auth')) === 'ok');
    await until('points in InfluxDB', async () => (await stateCount(0)) > 0);

    // outage
    await influx.kill();
    const killedAt = Date.now();
    await setPipeline(svc, 'broken');

    // alerting does not wait on metrics: the page goes out while InfluxDB is down
    await until('card-auth down', async () => (await checkStatus(svc, 'card-auth')) === 'down');
    const page = await until('the page delivered after the kill', () => hooks.has('trigger', 'card-auth', killedAt));
    expect(page.severity).toBe('critical');

    const degraded = await until('/readyz degraded by metrics', async () => {
      const r = await svc.fetch('/readyz');
      return r.status === 200 && r.body.status === 'degraded' && r.body.degraded.includes('metrics') ? r.body : undefined;
    });
    expect(degraded.degraded).toEqual(['metrics']);
    expect(degraded.components.metrics).toMatchObject({ ok: true, degraded: true, detail: { ok: false, reason: 'unreachable' } });
    expect(degraded.components.metrics.detail.lastError).toMatch(/INFLUXDB/);

    // ~15 points/s against a bound of 30: the oldest are dropped and counted on /metrics
    const dropped = await until('dropped points on /metrics', async () => {
      const r = await svc.fetch('/metrics');
      expect(r.status).toBe(200);
      const n = promValue(r.body as string, 'quietwatch_metrics_points_dropped_total');
      return n !== undefined && n > 0 ? { n, text: r.body as string } : undefined;
    });
    expect(dropped.n).toBeLessThanOrEqual(svc.svc.metrics.influx!.dropped()); // it only grows
    expect(svc.svc.metrics.influx!.status().buffered).toBeLessThanOrEqual(30);
    // the same facts still reach Prometheus
    expect(dropped.text).toMatch(/quietwatch_notifications_total\{[^}]*outcome="delivered"[^}]*\} [1-9]/);
    expect(dropped.text).toMatch(/quietwatch_check_state\{check="card-auth",state="down"\} 1/);

    // influxd back on the same port and data dir
    await influx.restart();
    const restartedAt = Date.now();
    await until('new points after the restart', async () => (await stateCount(restartedAt)) > 0, 10_000);
    await until('/readyz ready again', async () => {
      const r = await svc.fetch('/readyz');
      return r.status === 200 && r.body.status === 'ready' && r.body.degraded.length === 0;
    });
    // the data from before the outage survived the restart
    expect(await stateCount(0)).toBeGreaterThan(await stateCount(restartedAt));

    // and the incident still resolves
    await setPipeline(svc, 'healthy');
    await until('the resolve delivered', () => hooks.has('resolve', 'card-auth'));
    await until('the resolve notification in InfluxDB', async () => {
      const r = await influx.query(`SELECT count("count") FROM "qw_notification" WHERE "kind" = 'resolve' AND time >= ${restartedAt}ms`, DB);
      return Number(r.results[0]!.series?.[0]?.values[0]?.[1] ?? 0) >= 1;
    });
  }, 45_000);
});

// ------------------------------------------------------------------------------------------------
// 3. a check fed from InfluxDB
// ------------------------------------------------------------------------------------------------

describe('a check fed from InfluxDB, in the service', () => {
  const DB = 'pipeline';
  let influx: InfluxServer;
  let svc: Running;
  let writer: NodeJS.Timeout | undefined;

  const write = async (lines: string) => {
    const res = await fetch(`${influx.url}/write?db=${DB}&precision=ms`, { method: 'POST', body: lines, signal: AbortSignal.timeout(5_000) });
    expect(res.status).toBe(204);
  };
  /** Points every 100 ms; `host` picks the series. */
  const startWriting = (host: string) => {
    stopWriting();
    writer = setInterval(() => void write(`m,host=${host} v=1 ${Date.now()}`).catch(() => {}), 100);
  };
  const stopWriting = () => {
    if (writer) clearInterval(writer);
    writer = undefined;
  };

  beforeAll(async () => {
    influx = await startInfluxd();
    await influx.createDatabase(DB);
  });

  afterAll(async () => {
    stopWriting();
    await svc?.close();
    await influx?.stop();
  });

  it('is ok while points arrive, quiet then down when they stop, ok when they resume', async () => {
    // pollInterval has a floor of 1s (the schema refuses less); quietAfter must exceed it, or the
    // check would go quiet between two polls while points flow.
    svc = await startService(`
checks:
  - name: fed
    quietAfter: 2s
    pageAfter: 3s
    source:
      type: influxdb
      url: ${influx.url}
      database: ${DB}
      measurement: m
      field: v
      where: { host: a }
      pollInterval: 1s
      timeout: 2s
`);
    startWriting('a');
    await until('fed ok', async () => (await checkStatus(svc, 'fed')) === 'ok', 10_000);
    // stays ok while points flow (no flapping between polls)
    const okSince = (await svc.fetch('/v1/checks/fed')).body.since as number;
    await new Promise((r) => setTimeout(r, 2_500));
    const still = (await svc.fetch('/v1/checks/fed')).body;
    expect(still.status).toBe('ok');
    expect(still.since).toBe(okSince);

    // points stop for host=a (host=b keeps writing: the tag filter ignores it)
    startWriting('b');
    const stoppedAt = Date.now();
    await until('fed quiet', async () => (await checkStatus(svc, 'fed')) === 'quiet', 10_000, 25);
    const quietAt = Date.now();
    await until('fed down', async () => (await checkStatus(svc, 'fed')) === 'down', 10_000, 25);
    const downAt = Date.now();
    expect(quietAt - stoppedAt).toBeGreaterThanOrEqual(1_000);
    expect(downAt).toBeGreaterThan(quietAt);
    const flips = (await svc.fetch('/v1/checks/fed')).body.flips as { from: string; to: string; reason: string }[];
    expect(flips.slice(0, 2).map((f) => `${f.from}->${f.to}`)).toEqual(['quiet->down', 'ok->quiet']);

    // points again
    startWriting('a');
    await until('fed ok again', async () => (await checkStatus(svc, 'fed')) === 'ok', 10_000);
    stopWriting();
  }, 40_000);
});

// ------------------------------------------------------------------------------------------------
// 4. open incidents are reported at start and periodically, not only on alert activity
// ------------------------------------------------------------------------------------------------

describe('open incidents after a restart', () => {
  const DB = 'qw_restart';
  let influx: InfluxServer;
  let gw: Gateway;
  let svc: Running;
  let restartedAt: number;
  const yaml = () => `
metrics:
  stateInterval: 200ms
  influxdb: { url: "${gw.url}", bucket: ${DB}, flushInterval: 200ms }
sandbox:
  mode: broken
  streams: [{ stream: card-auth, ratePerSec: 20 }]
checks:
  - name: card-auth
    quietAfter: 500ms
    pageAfter: 1s
`;

  beforeAll(async () => {
    ({ influx, gw } = await startInfluxWithGateway(DB));
    const dir = tempDir();
    // first run: the pipeline is broken from the start -> down -> an open incident
    const first = await startService(yaml(), { dir });
    await until('an open incident', async () => (await first.fetch('/v1/incidents?open=true')).body.incidents.length === 1);
    await first.close();
    // second run on the same data: the incident is still open, and nothing alerts any more
    restartedAt = Date.now();
    svc = await startService(yaml(), { dir });
    expect(await checkStatus(svc, 'card-auth')).toBe('down');
    expect((await svc.fetch('/v1/incidents?open=true')).body.incidents).toHaveLength(1);
    // a few state intervals and flushes: the reporter has run and the points are written
    await until('state points after the restart', async () => {
      const r = await influx.query(`SELECT count("state_code") FROM "qw_check" WHERE time >= ${restartedAt}ms`, DB);
      return Number(r.results[0]!.series?.[0]?.values[0]?.[1] ?? 0) >= 3;
    });
  }, 30_000);

  afterAll(async () => {
    await svc?.close();
    await gw?.close();
    await influx?.stop();
  });

  // Regression: the open incident count was reported only after an alert, so after a restart with an
  // open incident (or an hour without alert activity) the "Open incidents" tile said No data.
  it('reports the open incident count after a restart, to Prometheus and InfluxDB', async () => {
    const text = (await svc.fetch('/metrics')).body as string;
    expect(promValue(text, 'quietwatch_incidents_open')).toBe(1);
    const r = await influx.query(`SELECT last("open") FROM "qw_incidents" WHERE time >= ${restartedAt}ms`, DB);
    expect(r.results[0]!.series?.[0]?.values[0]?.[1]).toBe(1);
  });
});

// ------------------------------------------------------------------------------------------------
// 5. probe and event facts match what happened (redelivered probe events, card-token probes)
// ------------------------------------------------------------------------------------------------

describe('probe and event facts', () => {
  const DB = 'qw_facts';
  let influx: InfluxServer;
  let gw: Gateway;
  let svc: Running;
  let charges: number;
  const q = async (text: string) => (await influx.query(text, DB)).results[0]!.series;

  beforeAll(async () => {
    ({ influx, gw } = await startInfluxWithGateway(DB));
    svc = await startService(`
metrics:
  stateInterval: 200ms
  influxdb: { url: "${gw.url}", bucket: ${DB}, flushInterval: 200ms }
sandbox: { acquirerDelay: 200ms, mode: quiet, streams: [{ stream: card-auth, ratePerSec: 20 }] }
probes: { drivers: { acquirer: { type: sandbox } } }
checks:
  - name: card-auth
    quietAfter: 500ms
    pageAfter: 30s
    probe: { driver: acquirer, timeout: 1s, amount: 50, backoff: { factor: 10 } }
  # correlated by card token + amount, as with an acquirer that cannot carry our probe id
  - name: tok
    quietAfter: 1h
    pageAfter: 2h
    probe: { driver: acquirer, amount: 70, correlate: { cardToken: tok_probe } }
`);
    // one probe fired and proven (the quiet window then backs off x10: no second probe here)
    const proven = await until('a proven probe', async () => (await svc.fetch('/v1/probes?check=card-auth')).body.probes.find((p: { result: string }) => p.result === 'proven'));
    // the pipeline delivers that probe's transaction a second time (at-least-once delivery), and
    // an acquirer transaction of the card-token check arrives (card token + probe amount, no probe_id)
    const r = await svc.fetch('/v1/events', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        { stream: 'card-auth', attributes: { probe_id: proven.id, scheme: 'visa' } },
        { stream: 'tok', attributes: { card_token: 'tok_probe', amount: '70' } },
      ]),
    });
    expect(r.status).toBe(202);
    charges = (await svc.fetch('/v1/sandbox/pipeline')).body.stats.charges;
    expect(charges).toBe(1);
    await until('the events of stream tok in InfluxDB', async () => (await q(`SELECT sum("count") FROM "qw_events" WHERE "stream" = 'tok'`)) !== undefined);
    await until('the probe facts in InfluxDB', async () => (await q(`SELECT count("ok") FROM "qw_probe" WHERE "check" = 'card-auth'`)) !== undefined);
  }, 30_000);

  afterAll(async () => {
    await svc?.close();
    await gw?.close();
    await influx?.stop();
  });

  // Regression: a duplicate or late delivery of a probe's transaction (probe-proven with latencyMs -1)
  // was counted as another proven probe, with its cost.
  it('counts each charged probe once, whatever the pipeline redelivers', async () => {
    const probes = await q(`SELECT count("ok"), sum("cost_minor") FROM "qw_probe" GROUP BY "check"`);
    const byCheck = Object.fromEntries(probes!.map((s) => [s.tags!.check, s.values[0]!.slice(1)]));
    expect(byCheck['card-auth']).toEqual([charges, 50 * charges]);
    expect(byCheck.tok).toBeUndefined(); // its probe never fired
  });

  // Regression: probe transactions of a check correlated by card token + amount carry no probe_id
  // attribute and were counted as real traffic.
  it('counts a card-token probe transaction as synthetic', async () => {
    const events = await q(`SELECT sum("count") FROM "qw_events" WHERE "stream" = 'tok' GROUP BY "synthetic"`);
    expect(Object.fromEntries(events!.map((s) => [s.tags!.synthetic, s.values[0]![1]]))).toEqual({ true: 1 });
  });
});
