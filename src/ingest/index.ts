/**
 * The one ingest path. Pushed events (the API), the sandbox's simulated pipeline and InfluxDB-fed
 * points all come in here: the runtime routes and stores them (resolving once they are committed),
 * then they are counted once — real and synthetic apart, one lag sample per event.
 */
import type { CheckRuntime } from '../checks/runtime.ts';
import type { Clock } from '../lib/clock.ts';
import type { MetricsSink } from '../metrics/sink.ts';
import type { AttrValue, IngestEvent } from './types.ts';

export type { AttrValue, IngestEvent } from './types.ts';

export interface IngestDeps {
  runtime: CheckRuntime;
  sink: MetricsSink;
  clock: Clock;
  /** Any check's synthetic (probe) transaction: counted apart, never learned. */
  isSynthetic: (attrs: Record<string, AttrValue>) => boolean;
  onCountError?: (err: unknown) => void;
}

/**
 * Batches at least this large take turns: each starts in its own turn of the event loop. With a
 * synchronous store (SQLite) a batch's steps, commit and alerting run in one go (~100 ms for 2,500
 * events in a resolve storm); four such POSTs arriving together held /healthz for 0.7 s.
 */
export const TURN_EVENTS = 256;

export class Ingest {
  /** Resolves at the next turn of the event loop after the last large batch started. */
  #turn: Promise<void> | undefined;

  constructor(private readonly d: IngestDeps) {}

  /** Store a batch (all or nothing: a store failure rejects and nothing is accepted), then count it. */
  async accept(events: readonly IngestEvent[]): Promise<number> {
    if (events.length >= TURN_EVENTS) {
      // Waits for the previous large batch's turn, not for its commit: an asynchronous store
      // (PostgreSQL) still has several batches in flight.
      while (this.#turn) await this.#turn;
      this.#turn = new Promise<void>((resolve) =>
        setImmediate(() => {
          this.#turn = undefined;
          resolve();
        }),
      );
    }
    const updates = await this.d.runtime.ingest(events);
    // Stored is accepted: a metrics failure (a bug; sinks never throw) must not turn that into an error.
    try {
      this.count(events);
    } catch (err) {
      this.d.onCountError?.(err);
    }
    return updates;
  }

  private count(events: readonly IngestEvent[]): void {
    // Aggregate per batch: one call per (stream, synthetic) and one lag sample per event.
    const counts = new Map<string, [number, number]>();
    for (const e of events) {
      let c = counts.get(e.stream);
      if (!c) counts.set(e.stream, (c = [0, 0]));
      c[this.d.isSynthetic(e.attributes) ? 1 : 0]++;
      this.d.sink.lag(e.stream, e.arrivedAt - e.time, e.arrivedAt);
    }
    const now = this.d.clock.now();
    for (const [stream, [real, synth]] of counts) {
      if (real) this.d.sink.events(stream, real, false, now);
      if (synth) this.d.sink.events(stream, synth, true, now);
    }
  }
}
