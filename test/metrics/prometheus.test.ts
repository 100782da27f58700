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
});
