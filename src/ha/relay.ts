/**
 * The ingest relay: how every replica accepts events while only the leader runs the checks.
 *
 *  - append(): any replica commits a batch to `ingest_batches` (one row per accepted batch, the
 *    events as JSON, all or nothing) before it answers 202, so an accepted event survives the
 *    replica's SIGKILL;
 *  - drain(): the leader takes the oldest batches out with DELETE … RETURNING (FOR UPDATE SKIP
 *    LOCKED), up to `batch` events, in a transaction that stays open while they are applied to the
 *    checks (whose state commit is its own transaction), and commits the DELETE only after that. A
 *    crash in between applies them again on the next leader: at least once, never lost (a repeated
 *    event changes nothing but a learned count).
 * Rows are taken by what is there, not by a cursor: a batch that commits late (a lower seq, a slow
 * replica) is taken at the next drain, never skipped.
 *
 * One row per batch, not per event: a batch of 1,000 is one tuple and one index entry to insert and
 * to delete, the follower sends the JSON it already has, and PostgreSQL only checks it is JSON (a
 * `json` column, no per-event parsing or jsonb conversion). Replicas of the previous version (one
 * row per event in `ingest_events`) may still be appending during a rolling upgrade: that table is
 * drained too, looked at no more than once a second while it is empty.
 */
import type { IngestEvent } from '../ingest/types.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import type { Timers } from '../lib/clock.ts';
import { systemTimers } from '../lib/clock.ts';
import type { PoolClient } from 'pg';
import type { PgPool } from '../store/pg-pool.ts';

/** A row of the previous version's per-event table. */
interface LegacyRow {
  seq: number;
  stream: string;
  check_name: string | null;
  arrived_at: number;
  time: number;
  event_id: string | null;
  attributes: IngestEvent['attributes'];
}

/** How often an empty `ingest_events` (the previous version's table) is looked at again. */
const LEGACY_EVERY_MS = 1000;

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
  /** When to look at the previous version's table again (0: at the next drain). */
  #legacyAt = 0;
  /** Events applied by this replica while leading. */
  applied = 0;

  constructor(o: RelayOptions) {
    this.#o = { everyMs: 100, batch: 5000, logger: silentLogger(), timers: systemTimers, ...o };
  }

  /** Commit a batch; resolves once it is durable (then the caller may answer 202). */
  async append(events: readonly IngestEvent[]): Promise<void> {
    if (!events.length) return;
    await this.#o.db.query(
      'INSERT INTO ingest_batches (n, events, replica) VALUES ($1, $2::json, $3)',
      [events.length, JSON.stringify(events), this.#o.replica],
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
      // The oldest batches while the events before each are under `batch` (so at least one batch,
      // however large, and at most one batch's worth beyond `batch`).
      const r = await c.query<{ seq: string; events: IngestEvent[] }>(
        `WITH c AS (SELECT seq, n FROM ingest_batches ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED),
              w AS (SELECT seq FROM (SELECT seq, sum(n) OVER (ORDER BY seq) - n AS before FROM c) x WHERE before < $1)
         DELETE FROM ingest_batches b USING w WHERE b.seq = w.seq RETURNING b.seq, b.events`,
        [this.#o.batch],
      );
      const events: IngestEvent[] = [];
      for (const row of r.rows.sort((a, b) => Number(a.seq) - Number(b.seq))) for (const e of row.events) events.push(e);
      if (events.length < this.#o.batch && Date.now() >= this.#legacyAt) {
        const legacy = await this.#drainLegacy(c, this.#o.batch - events.length);
        if (!legacy.length) this.#legacyAt = Date.now() + LEGACY_EVERY_MS;
        for (const e of legacy) events.push(e);
      }
      if (!events.length) return 0;
      await apply(events);
      this.applied += events.length;
      return events.length;
    }, 'applying relayed events');
  }

  /** The previous version's rows (one per event), oldest first. */
  async #drainLegacy(c: PoolClient, limit: number): Promise<IngestEvent[]> {
    const r = await c.query<LegacyRow>(
      `DELETE FROM ingest_events WHERE seq IN (SELECT seq FROM ingest_events ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING seq, stream, check_name, arrived_at, time, event_id, attributes`,
      [Math.max(1, limit)],
    );
    return r.rows
      .sort((a, b) => Number(a.seq) - Number(b.seq))
      .map((row) => {
        const e: IngestEvent = { stream: row.stream, arrivedAt: Number(row.arrived_at), time: Number(row.time), attributes: row.attributes ?? {} };
        if (row.event_id !== null) e.id = row.event_id;
        if (row.check_name !== null) e.check = row.check_name;
        return e;
      });
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
    const r = await this.#o.db.query<{ n: string }>(
      'SELECT (SELECT coalesce(sum(n), 0) FROM ingest_batches) + (SELECT count(*) FROM ingest_events) AS n',
      [],
      'counting relayed events',
    );
    return Number(r.rows[0]!.n);
  }
}
