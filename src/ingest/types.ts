/** Ingest's own vocabulary: what an event is, whoever sent it (the API, the sandbox, an InfluxDB-fed check). */
export type AttrValue = string | number | boolean | null | AttrValue[] | { [k: string]: AttrValue };

export interface IngestEvent {
  stream: string;
  /** Arrival time (liveness). */
  arrivedAt: number;
  /** The event's own time (defaults to arrival). */
  time: number;
  id?: string;
  attributes: Record<string, AttrValue>;
  /**
   * Addressed to one check only (an InfluxDB-fed check's newest point): routed to that check,
   * whatever else listens to the stream.
   */
  check?: string;
  /**
   * A job's run ping (`/ping?state=start|success|fail&run=ID`): `start` and `fail` are not traffic
   * (a start opens a run that must succeed within maxRuntime; a fail is down at once, `reason` the
   * body); `success` is an event that also ends its run.
   */
  run?: { state: 'start' | 'success' | 'fail'; id?: string; reason?: string };
}
