/**
 * The metrics block of the config and one factory for the composition root:
 *
 *   const metrics = createMetrics(config.metrics, { clock, logger });
 *   runtime/ingest/probes/alerts report to metrics.sink;
 *   buildServer({ metrics: metrics.scrape, components: async () => ({ metrics: metrics.readiness() }) });
 *   await metrics.close() on shutdown.
 */
import { z } from 'zod';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { InfluxSink, influxConfigSchema } from './influx.ts';
import { PrometheusSink } from './prometheus.ts';
import { durationSchema as durationMs } from '../lib/schema.ts';
import { FanoutSink, type MetricsSink, type SinkStatus } from './sink.ts';

export * from './sink.ts';
export { InfluxSink, influxConfigSchema, type InfluxConfig, type InfluxConfigInput } from './influx.ts';
export { PrometheusSink, type PrometheusSinkOptions } from './prometheus.ts';

export const metricsConfigSchema = z
  .object({
    /** How often each check's state and seconds since its last event are reported (a live counter on screens). */
    stateInterval: durationMs.default(5_000),
    /** Omit to write nothing to InfluxDB. */
    influxdb: influxConfigSchema.optional(),
    prometheus: z
      .object({
        /** Serve GET /metrics. */
        enabled: z.boolean().default(true),
        /** Include Node.js process metrics. */
        processMetrics: z.boolean().default(true),
      })
      .default({ enabled: true, processMetrics: true }),
  })
  .default({ stateInterval: 5_000, prometheus: { enabled: true, processMetrics: true } });

export type MetricsConfig = z.output<typeof metricsConfigSchema>;
export type MetricsConfigInput = z.input<typeof metricsConfigSchema>;

/** Readiness of the metrics export: never fails readiness, only reports itself degraded. */
export interface MetricsReadiness {
  ok: true;
  degraded?: boolean;
  detail?: SinkStatus;
}

export interface Metrics {
  /** Report every fact here. */
  sink: MetricsSink;
  prometheus?: PrometheusSink;
  influx?: InfluxSink;
  /** For GET /metrics (undefined when Prometheus is disabled). */
  scrape?: () => Promise<{ contentType: string; body: string }>;
  /** For /readyz: `{ ok: true, degraded: true, detail: {reason, buffered, dropped, lastError} }` when InfluxDB fails. */
  readiness(): MetricsReadiness;
  close(): Promise<void>;
}

export function createMetrics(config: MetricsConfigInput | MetricsConfig | undefined, deps: { clock?: Clock; logger?: Logger } = {}): Metrics {
  const cfg = metricsConfigSchema.parse(config ?? {});
  const influx = cfg.influxdb ? new InfluxSink(cfg.influxdb, deps).start() : undefined;
  const prometheus = cfg.prometheus.enabled
    ? new PrometheusSink({ defaultMetrics: cfg.prometheus.processMetrics, ...(influx ? { droppedPoints: () => influx.dropped() } : {}) })
    : undefined;
  const sinks: MetricsSink[] = [];
  if (influx) sinks.push(influx);
  if (prometheus) sinks.push(prometheus);
  const log = deps.logger?.child({ component: 'metrics' });
  const sink = new FanoutSink(sinks, (err, method) => log?.error({ err, method }, 'metrics sink threw'));
  return {
    sink,
    prometheus,
    influx,
    scrape: prometheus ? async () => ({ contentType: prometheus.contentType, body: await prometheus.metricsText() }) : undefined,
    readiness() {
      if (!influx) return { ok: true };
      const status = influx.status();
      return status.ok ? { ok: true, detail: status } : { ok: true, degraded: true, detail: status };
    },
    async close() {
      await influx?.close();
    },
  };
}
