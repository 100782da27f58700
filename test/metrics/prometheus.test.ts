import { describe, expect, it } from 'vitest';
import { PrometheusSink } from '../../src/metrics/prometheus.ts';

const check = { name: 'card-auth', stream: 'auth' };

describe('PrometheusSink', () => {
  it('exposes every fact under its Prometheus name after recording it', async () => {
    let dropped = 7;
    const sink = new PrometheusSink({ droppedPoints: () => dropped });
    const at = 1_700_000_000_000;
    sink.checkState(check, 'quiet', 75, at, { eventsPerMinute: 120 });
    sink.events('auth', 5, false, at);
    sink.events('auth', 3, false, at);
    sink.events('auth', 1, true, at);
    sink.lag('auth', 1500, at);
    sink.flip(check, 'ok', 'quiet', at, 'no events for 60s');
    sink.probe({ check: 'card-auth', probeId: 'p1', result: 'proven', latencyMs: 2500, costMinor: 1, currency: 'EUR', at });
    sink.notification({ notifier: 'pagerduty', kind: 'trigger', outcome: 'delivered', deliveryMs: 300, at });
    sink.incidents(2, at);
    sink.health({ component: 'store', ok: true, at });
    const text = await sink.metricsText();
    expect(sink.contentType).toMatch(/^text\/plain/);
    expect(text).toContain('quietwatch_check_state{check="card-auth",state="quiet"} 1');
    expect(text).toContain('quietwatch_check_state{check="card-auth",state="ok"} 0');
    expect(text).toContain('quietwatch_check_seconds_since_last_event{check="card-auth"} 75');
    expect(text).toContain('quietwatch_check_expected_events_per_minute{check="card-auth"} 120');
    expect(text).toContain('quietwatch_events_total{stream="auth",synthetic="false"} 8');
    expect(text).toContain('quietwatch_events_total{stream="auth",synthetic="true"} 1');
    expect(text).toContain('quietwatch_pipeline_lag_seconds_bucket{le="2.5",stream="auth"} 1');
    expect(text).toContain('quietwatch_check_flips_total{check="card-auth",from="ok",to="quiet"} 1');
    expect(text).toContain('quietwatch_probes_total{check="card-auth",result="proven"} 1');
    expect(text).toContain('quietwatch_probe_latency_seconds_count{check="card-auth"} 1');
    expect(text).toContain('quietwatch_probe_cost_minor_units_total{check="card-auth",currency="EUR"} 1');
    expect(text).toContain('quietwatch_notifications_total{notifier="pagerduty",kind="trigger",outcome="delivered"} 1');
    expect(text).toContain('quietwatch_notification_delivery_seconds_count{notifier="pagerduty"} 1');
    expect(text).toContain('quietwatch_incidents_open 2');
    expect(text).toContain('quietwatch_component_up{component="store"} 1');
    expect(text).toContain('quietwatch_metrics_points_dropped_total 7');
    expect(text).toContain('process_cpu_seconds_total');
    dropped = 9;
    expect(await sink.metricsText()).toContain('quietwatch_metrics_points_dropped_total 9');
  });

  it('forgets seconds since last event when the check has none, and moves the state gauge on a flip', async () => {
    const sink = new PrometheusSink({ defaultMetrics: false });
    sink.checkState(check, 'ok', 3, 0);
    sink.checkState(check, 'down', null, 1);
    const text = await sink.metricsText();
    expect(text).not.toContain('quietwatch_check_seconds_since_last_event{');
    expect(text).toContain('quietwatch_check_state{check="card-auth",state="down"} 1');
    expect(text).toContain('quietwatch_check_state{check="card-auth",state="ok"} 0');
    expect(text).not.toContain('process_cpu_seconds_total');
  });

  it('keeps separate registries per sink', async () => {
    const a = new PrometheusSink({ defaultMetrics: false });
    const b = new PrometheusSink({ defaultMetrics: false });
    a.incidents(1, 0);
    expect(await b.metricsText()).toContain('quietwatch_incidents_open 0');
  });

  it('per-check and per-stream series for many checks: the same lines as prom-client prints, escaped, in the JSON form too', async () => {
    const sink = new PrometheusSink({ defaultMetrics: false });
    const n = 5_000;
    for (let i = 0; i < n; i++) sink.checkState({ name: `c${i}`, stream: `s${i}` }, i % 2 ? 'ok' : 'down', i, 0, i === 7 ? { eventsPerMinute: 3 } : undefined);
    const odd = { name: 'we"ird\\name\n', stream: 'odd' };
    sink.checkState(odd, 'paused', null, 0);
    sink.flip(odd, 'ok', 'down', 0, 'r');
    sink.flip(odd, 'ok', 'down', 0, 'r');
    sink.flip({ name: 'c1', stream: 's1' }, 'down', 'ok', 0, 'r');
    sink.lag('s1', 50, 0);
    sink.lag('s1', 3_000, 0);
    sink.lag('s1', 500_000, 0);
    sink.events('s1', 2, false, 0);
    const text = await sink.metricsText();
    expect(text.match(/^quietwatch_check_state\{/gm)).toHaveLength((n + 1) * 5);
    expect(text).toContain('quietwatch_check_state{check="c4999",state="ok"} 1');
    expect(text).toContain('quietwatch_check_state{check="c4998",state="down"} 1');
    expect(text).toContain('quietwatch_check_state{check="we\\"ird\\\\name\\n",state="paused"} 1');
    expect(text).toContain('quietwatch_check_seconds_since_last_event{check="c4999"} 4999');
    expect(text.match(/^quietwatch_check_seconds_since_last_event\{/gm)).toHaveLength(n);
    expect(text.match(/^quietwatch_check_expected_events_per_minute\{/gm)).toEqual(['quietwatch_check_expected_events_per_minute{']);
    expect(text).toContain('quietwatch_check_flips_total{check="we\\"ird\\\\name\\n",from="ok",to="down"} 2');
    expect(text).toContain('quietwatch_check_flips_total{check="c1",from="down",to="ok"} 1');
    expect(text.match(/^quietwatch_check_flips_total\{/gm)).toHaveLength(2);
    // The histogram: cumulative buckets, +Inf, sum, count.
    expect(text).toContain('quietwatch_pipeline_lag_seconds_bucket{le="0.05",stream="s1"} 1');
    expect(text).toContain('quietwatch_pipeline_lag_seconds_bucket{le="2.5",stream="s1"} 1');
    expect(text).toContain('quietwatch_pipeline_lag_seconds_bucket{le="5",stream="s1"} 2');
    expect(text).toContain('quietwatch_pipeline_lag_seconds_bucket{le="300",stream="s1"} 2');
    expect(text).toContain('quietwatch_pipeline_lag_seconds_bucket{le="+Inf",stream="s1"} 3');
    expect(text).toContain('quietwatch_pipeline_lag_seconds_sum{stream="s1"} 503.05');
    expect(text).toContain('quietwatch_pipeline_lag_seconds_count{stream="s1"} 3');
    expect(text).toContain('# TYPE quietwatch_pipeline_lag_seconds histogram');
    expect(text).toContain('# TYPE quietwatch_check_flips_total counter');
    expect(text).toContain('quietwatch_events_total{stream="s1",synthetic="false"} 2');
    // A check that loses its last event time loses the series; a later state moves the gauge.
    sink.checkState({ name: 'c3', stream: 's3' }, 'quiet', null, 1);
    const again = await sink.metricsText();
    expect(again).not.toContain('quietwatch_check_seconds_since_last_event{check="c3"}');
    expect(again).toContain('quietwatch_check_state{check="c3",state="quiet"} 1');
    expect(again).toContain('quietwatch_check_state{check="c3",state="ok"} 0');
    const json = await sink.registry.getMetricsAsJSON();
    const lag = json.find((m) => m.name === 'quietwatch_pipeline_lag_seconds')!;
    expect(lag.values).toContainEqual(expect.objectContaining({ labels: { le: '+Inf', stream: 's1' }, value: 3 }));
    const state = json.find((m) => m.name === 'quietwatch_check_state')!;
    expect(state.values).toContainEqual(expect.objectContaining({ labels: { check: 'c0', state: 'down' }, value: 1 }));
  });
});
