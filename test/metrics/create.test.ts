import { describe, expect, it } from 'vitest';
import { createMetrics, metricsConfigSchema } from '../../src/metrics/index.ts';
import { freePort } from '../helpers/process.ts';

describe('createMetrics', () => {
  it('without InfluxDB: Prometheus only, always ready', async () => {
    const m = createMetrics(undefined);
    m.sink.incidents(2, Date.now());
    const scrape = await m.scrape!();
    expect(scrape.contentType).toMatch(/text\/plain/);
    expect(scrape.body).toContain('quietwatch_incidents_open 2');
    expect(m.readiness()).toEqual({ ok: true });
    await m.close();
  });

  it('with InfluxDB unreachable: facts still reach Prometheus, readiness says degraded, drops are counted', async () => {
    const port = await freePort();
    const m = createMetrics({ influxdb: { url: `http://127.0.0.1:${port}`, bucket: 'qw', maxBufferPoints: 3, batchSize: 1, timeout: '1s' }, prometheus: { processMetrics: false } });
    for (let i = 0; i < 5; i++) m.sink.health({ component: 'store', ok: true, at: Date.now() + i });
    await m.influx!.flush();
    const r = m.readiness();
    expect(r).toMatchObject({ ok: true, degraded: true, detail: { ok: false, reason: 'unreachable', dropped: 2 } });
    expect((await m.scrape!()).body).toContain('quietwatch_metrics_points_dropped_total 2');
    expect((await m.scrape!()).body).toContain('quietwatch_component_up{component="store"} 1');
    await m.close();
  });

  it('validates the metrics block', () => {
    expect(metricsConfigSchema.parse({})).toEqual({ stateInterval: 5000, prometheus: { enabled: true, processMetrics: true } });
    expect(metricsConfigSchema.safeParse({ influxdb: { url: 'x' } }).success).toBe(false);
    expect(createMetrics({ prometheus: { enabled: false } }).scrape).toBeUndefined();
  });
});
