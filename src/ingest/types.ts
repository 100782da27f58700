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
}
