/**
 * The ingest relay: how every replica accepts events while only the leader runs the checks.
 *
 *  - append(): any replica commits a batch to `ingest_events` (one INSERT, all or nothing) before it
 *    answers 202, so an accepted event survives the replica's SIGKILL;
 *  - drain(): the leader takes the oldest rows out with DELETE … RETURNING (FOR UPDATE SKIP LOCKED)
 *    in a transaction that stays open while they are applied to the checks (whose state commit is
 *    its own transaction), and commits the DELETE only after that. A crash in between applies the
 *    batch again on the next leader: at least once, never lost (a repeated event changes nothing
 *    but a learned count).
 * Rows are taken by what is there, not by a cursor: a batch that commits late (a lower seq, a slow
 * replica) is taken at the next drain, never skipped.
 */
import type { IngestEvent } from '../ingest/types.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import type { Timers } from '../lib/clock.ts';
import { systemTimers } from '../lib/clock.ts';
import type { PgPool } from '../store/pg-pool.ts';

interface Row {
  seq: number;
  stream: string;
  check_name: string | null;
  arrived_at: number;
  time: number;
  event_id: string | null;
  attributes: IngestEvent['attributes'];
}

export interface RelayOptions {
  db: PgPool;
  /** This replica's id (kept on each row, for debugging). */
  replica: string;
  logger?: Logger;
  timers?: Timers;
  /** Drain this often while leading. Default 100 ms. */
  everyMs?: number;
  /** Rows per drain. Default 5000. */
  batch?: number;
}

export class EventRelay {
  readonly #o: Required<RelayOptions>;
  #timer: unknown;
  #running = false;
  #draining: Promise<number> | undefined;
  /** Events applied by this replica while leading. */
  applied = 0;

  constructor(o: RelayOptions) {
    this.#o = { everyMs: 100, batch: 5000, logger: silentLogger(), timers: systemTimers, ...o };
  }

  /** Commit a batch; resolves once it is durable (then the caller may answer 202). */
  async append(events: readonly IngestEvent[]): Promise<void> {
    if (!events.length) return;
    const rows = events.map((e) => ({ stream: e.stream, check_name: e.check ?? null, arrived_at: e.arrivedAt, time: e.time, event_id: e.id ?? null, attributes: e.attributes }));
    await this.#o.db.query(
      `INSERT INTO ingest_events (stream, check_name, arrived_at, time, event_id, attributes, replica)
       SELECT stream, check_name, arrived_at, time, event_id, attributes, $2
       FROM jsonb_to_recordset($1::jsonb) AS x(stream text, check_name text, arrived_at bigint, time bigint, event_id text, attributes jsonb)`,
      [JSON.stringify(rows), this.#o.replica],
      'storing accepted events',
    );
  }

  /** Take up to `batch` of the oldest events and apply them; the DELETE commits only if apply resolves. */
  drain(apply: (events: IngestEvent[]) => Promise<unknown>): Promise<number> {
    if (!this.#draining) this.#draining = this.#drain(apply).finally(() => (this.#draining = undefined));
    return this.#draining;
  }

  async #drain(apply: (events: IngestEvent[]) => Promise<unknown>): Promise<number> {
    return this.#o.db.tx(async (c) => {
      const r = await c.query<Row>(
        `DELETE FROM ingest_events WHERE seq IN (SELECT seq FROM ingest_events ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING seq, stream, check_name, arrived_at, time, event_id, attributes`,
        [this.#o.batch],
      );
      if (!r.rows.length) return 0;
      const rows = r.rows.sort((a, b) => a.seq - b.seq);
      const events = rows.map((row) => {
        const e: IngestEvent = { stream: row.stream, arrivedAt: row.arrived_at, time: row.time, attributes: row.attributes ?? {} };
        if (row.event_id !== null) e.id = row.event_id;
        if (row.check_name !== null) e.check = row.check_name;
        return e;
      });
      await apply(events);
      this.applied += events.length;
      return events.length;
    }, 'applying relayed events');
  }

  /**
   * Apply the backlog (a takeover, before the deadline timers start): drain until a batch comes back
   * less than full. Events keep arriving meanwhile; those are applied by the running loop.
   */
  async drainBacklog(apply: (events: IngestEvent[]) => Promise<unknown>): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.drain(apply);
      total += n;
      if (n < this.#o.batch) return total;
    }
  }

  /** Leader: drain continuously (again at once while batches come back full). */
  start(apply: (events: IngestEvent[]) => Promise<unknown>): void {
    if (this.#running) return;
    this.#running = true;
    const loop = async () => {
      let n = 0;
      try {
        n = await this.drain(apply);
      } catch (err) {
        this.#o.logger.warn({ err_code: (err as { code?: string }).code, error: (err as Error).message }, 'could not apply relayed events; retrying');
      }
      if (!this.#running) return;
      this.#timer = this.#o.timers.setTimeout(() => void loop(), n >= this.#o.batch ? 0 : this.#o.everyMs);
    };
    void loop();
  }

  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer !== undefined) this.#o.timers.clearTimeout(this.#timer);
    await this.#draining?.catch(() => undefined);
  }

  /** Events accepted but not yet applied (metrics, tests). */
  async backlog(): Promise<number> {
    const r = await this.#o.db.query<{ n: number }>('SELECT count(*) AS n FROM ingest_events', [], 'counting relayed events');
    return Number(r.rows[0]!.n);
  }
}
