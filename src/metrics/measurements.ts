/**
 * The InfluxDB schema quietwatch writes: measurement names, their tags and fields. The sink writes
 * exactly these; the dashboards' InfluxQL builder is typed against them, so a panel cannot query a
 * field that is never written. docs/metrics.md describes each one.
 */
export const MEASUREMENTS = {
  /** Each check's state, every few seconds and on every flip. */
  qw_check: {
    tags: ['check', 'stream', 'state'],
    fields: ['state_code', 'seconds_since_last_event', 'expected_per_min', 'quiet_after_s', 'page_after_s'],
  },
  /** Events ingested per flush interval (zero when a known stream was silent). */
  qw_events: { tags: ['stream', 'synthetic'], fields: ['count', 'per_min'] },
  /** Pipeline lag (event time vs arrival) per flush interval. */
  qw_lag: { tags: ['stream'], fields: ['mean_ms', 'max_ms', 'count'] },
  /** Every state change. */
  qw_flip: { tags: ['check', 'stream', 'from_state', 'to_state'], fields: ['reason', 'from_code', 'to_code'] },
  /** Every probe. */
  qw_probe: { tags: ['check', 'result', 'currency'], fields: ['ok', 'latency_ms', 'cost_minor', 'probe_id'] },
  /** Every notification attempt. */
  qw_notification: { tags: ['notifier', 'kind', 'outcome'], fields: ['count', 'delivery_ms'] },
  /** Open incidents. */
  qw_incidents: { tags: [], fields: ['open'] },
  /** quietwatch's own components. */
  qw_health: { tags: ['component'], fields: ['ok'] },
} as const;

export type Measurement = keyof typeof MEASUREMENTS;
export type FieldOf<M extends Measurement> = (typeof MEASUREMENTS)[M]['fields'][number];
export type TagOf<M extends Measurement> = (typeof MEASUREMENTS)[M]['tags'][number];
