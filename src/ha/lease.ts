/**
 * The leader lease: one row in PostgreSQL (`qw_lease`), held by one replica at a time, with a fencing
 * token that grows by one at each change of holder.
 *
 *  - acquire: a conditional upsert that succeeds only when the row is missing or its lease lapsed;
 *    it takes the next token (a new term);
 *  - renew: a conditional update that succeeds only while the row still has our holder id and token
 *    and has not lapsed;
 *  - release (graceful shutdown): the lease lapses at once, so a follower takes over at its next try.
 *
 * This replica believes it leads only until `validUntil` = (local time when the last successful
 * acquire/renew was SENT) + ttl - margin, so a leader that cannot reach the database (or was paused)
 * stops acting by itself before any other replica may take over; the database-side fence
 * (src/ha/fence.ts) refuses its claims anyway once a newer term exists.
 *
 * Time: an injected Clock (tests: a ManualClock shared by every contender) is used both locally and
 * in the SQL; without one, expiry is computed with the database's clock (one clock for all replicas,
 * no skew) and local validity with this process's monotonic clock.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Clock } from '../lib/clock.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import type { PgPool } from '../store/pg-pool.ts';
import { LEASE_NAME, nowSql, type Fence } from './fence.ts';

export interface LeaseOptions {
  db: PgPool;
  /** Lease name (one lease per quietwatch deployment sharing the database). Default 'leader'. */
  name?: string;
  /** This replica's id, unique per process. Default host:pid:random. */
  holder?: string;
  /** How long a lease lasts after each renewal. Default 10 s. */
  ttlMs?: number;
  /** Renew (leader) / try to acquire (follower) this often. Default ttl / 3. */
  everyMs?: number;
  /** Stop believing we lead this long before the lease ends (clock drift, a slow statement). Default ttl / 5. */
  marginMs?: number;
  clock?: Clock;
  logger?: Logger;
}

export interface LeaseInfo {
  holder: string;
  token: number;
  acquiredAt: number;
  renewedAt: number;
  expiresAt: number;
}

export type LeaseRole = 'leader' | 'follower';

export type Handover = { first: true } | { first: false; previousHolder: string; msSinceLapse: number };

const monotonic: Clock = (() => {
  const origin = Date.now() - performance.now();
  return { now: () => origin + performance.now() };
})();

export interface LeaderLease {
  on(event: 'elected', fn: (token: number) => void): this;
  on(event: 'deposed', fn: (reason: string) => void): this;
  on(event: 'error', fn: (err: Error) => void): this;
}

export class LeaderLease extends EventEmitter implements Fence {
  readonly name: string;
  readonly holder: string;
  readonly ttlMs: number;
  readonly everyMs: number;
  readonly marginMs: number;
  readonly #db: PgPool;
  readonly #clock?: Clock;
  readonly #local: Clock;
  readonly #log: Logger;
  #token: number | undefined;
  #validUntil = -Infinity;
  #timer: NodeJS.Timeout | undefined;
  #expiry: NodeJS.Timeout | undefined;
  #running = false;
  #ticking: Promise<void> | undefined;
  /** Successful acquisitions by this replica (terms it led). */
  terms = 0;
  #handover: Handover | undefined;
  /** The other replica holding the lease, as the last failed acquire found it (undefined: none, or unknown). */
  #seen: string | undefined;

  constructor(o: LeaseOptions) {
    super();
    this.#db = o.db;
    this.name = o.name ?? LEASE_NAME;
    this.holder = o.holder ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.ttlMs = o.ttlMs ?? 10_000;
    this.everyMs = o.everyMs ?? Math.max(50, Math.floor(this.ttlMs / 3));
    this.marginMs = o.marginMs ?? Math.floor(this.ttlMs / 5);
    if (this.everyMs + this.marginMs >= this.ttlMs) throw new Error('lease: everyMs + marginMs must be shorter than ttlMs');
    this.#clock = o.clock;
    this.#local = o.clock ?? monotonic;
    this.#log = o.logger ?? silentLogger();
    // 'error' events without a listener would throw
    this.on('error', () => undefined);
  }

  /** True while this replica holds an unexpired lease (by its own, conservative, reckoning). */
  isLeader(): boolean {
    if (this.#token === undefined) return false;
    if (this.#local.now() >= this.#validUntil) {
      this.#depose('lease lapsed before it could be renewed');
      return false;
    }
    return true;
  }

  role(): LeaseRole {
    return this.isLeader() ? 'leader' : 'follower';
  }

  /** Fence: the token while leading. */
  token(): number | undefined {
    return this.isLeader() ? this.#token : undefined;
  }

  /** Fence: the time the database compares the expiry with (undefined: its own clock). */
  now(): number | undefined {
    return this.#clock?.now();
  }

  /**
   * How the current term began: the first lease ever, or taken over from `previousHolder`, whose lease
   * had lapsed `msSinceLapse` before (0 after a release). Undefined while not leading.
   */
  handover(): Handover | undefined {
    return this.isLeader() ? this.#handover : undefined;
  }

  /**
   * Who leads as this replica knows it: itself while it leads, else the holder of the unexpired
   * lease its last try to acquire found (looked up after each refused try), undefined when none
   * holds it or the database did not answer.
   */
  leader(): string | undefined {
    return this.isLeader() ? this.holder : this.#seen;
  }

  /** The lease row as the database has it (who leads), or undefined when nobody ever did. */
  async current(): Promise<LeaseInfo | undefined> {
    const r = await this.#db.query<{ holder: string; token: number; acquired_at: number; renewed_at: number; expires_at: number }>(
      'SELECT holder, token, acquired_at, renewed_at, expires_at FROM qw_lease WHERE name = $1',
      [this.name],
      'reading the leader lease',
    );
    const row = r.rows[0];
    return row && { holder: row.holder, token: row.token, acquiredAt: row.acquired_at, renewedAt: row.renewed_at, expiresAt: row.expires_at };
  }

  /** One step: renew when leading, else try to acquire. Never throws (errors are emitted and logged). */
  tick(): Promise<void> {
    if (!this.#ticking) {
      this.#ticking = this.#step().finally(() => (this.#ticking = undefined));
    }
    return this.#ticking;
  }

  async #step(): Promise<void> {
    const sentAt = this.#local.now();
    const now = this.#clock?.now() ?? null;
    try {
      if (this.isLeader()) {
        const r = await this.#db.query(
          `UPDATE qw_lease SET renewed_at = ${nowSql(4)}, expires_at = ${nowSql(4)} + $5
            WHERE name = $1 AND holder = $2 AND token = $3 AND expires_at > ${nowSql(4)}
            RETURNING token`,
          [this.name, this.holder, this.#token, now, this.ttlMs],
          'renewing the leader lease',
        );
        if (r.rowCount === 1) this.#held(sentAt);
        else this.#depose('lease taken over or lapsed (renewal refused)');
        return;
      }
      const r = await this.#db.query<{ token: number; acquired_at: number; prev_holder: string | null; prev_expires_at: number | null }>(
        `WITH prev AS (SELECT holder, expires_at FROM qw_lease WHERE name = $1)
         INSERT INTO qw_lease AS l (name, holder, token, acquired_at, renewed_at, expires_at)
           VALUES ($1, $2, 1, ${nowSql(3)}, ${nowSql(3)}, ${nowSql(3)} + $4)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = l.token + 1,
           acquired_at = excluded.acquired_at, renewed_at = excluded.renewed_at, expires_at = excluded.expires_at
         WHERE l.expires_at <= excluded.acquired_at
         RETURNING token, acquired_at, (SELECT holder FROM prev) AS prev_holder, (SELECT expires_at FROM prev) AS prev_expires_at`,
        [this.name, this.holder, now, this.ttlMs],
        'acquiring the leader lease',
      );
      if (r.rowCount === 1) {
        const row = r.rows[0]!;
        this.#handover = row.prev_holder === null ? { first: true } : { first: false, previousHolder: row.prev_holder, msSinceLapse: row.acquired_at - (row.prev_expires_at ?? 0) };
        this.#token = row.token;
        this.#seen = undefined;
        this.terms++;
        this.#held(sentAt);
        this.#log.info({ holder: this.holder, token: this.#token }, 'this replica is the leader');
        this.emit('elected', this.#token);
      } else {
        const cur = await this.#db.query<{ holder: string }>(
          `SELECT holder FROM qw_lease WHERE name = $1 AND expires_at > ${nowSql(2)}`,
          [this.name, now],
          'reading the leader lease',
        );
        this.#seen = cur.rows[0]?.holder;
      }
    } catch (err) {
      this.#seen = undefined;
      this.#log.warn({ err_code: (err as { code?: string }).code, error: (err as Error).message }, 'leader lease: the database did not answer');
      this.emit('error', err as Error);
      this.isLeader(); // deposes when the validity ran out meanwhile
    }
  }

  #held(sentAt: number): void {
    this.#validUntil = sentAt + this.ttlMs - this.marginMs;
    // Step down on time even when the next renewal hangs (database unreachable, statement timeout).
    if (this.#expiry) clearTimeout(this.#expiry);
    if (this.#running) {
      this.#expiry = setTimeout(() => this.isLeader(), Math.max(0, this.#validUntil - this.#local.now()) + 1);
      this.#expiry.unref();
    }
  }

  #depose(reason: string): void {
    if (this.#token === undefined) return;
    const token = this.#token;
    this.#token = undefined;
    this.#validUntil = -Infinity;
    if (this.#expiry) clearTimeout(this.#expiry);
    this.#log.warn({ holder: this.holder, token, reason }, 'this replica is no longer the leader');
    this.emit('deposed', reason);
  }

  /** Try now, then renew / retry every `everyMs`. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    const loop = async () => {
      await this.tick();
      if (!this.#running) return;
      this.#timer = setTimeout(loop, this.everyMs);
      this.#timer.unref();
    };
    void loop();
  }

  /** Stop renewing; release the lease when held so a follower takes over without waiting for it to lapse. */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#expiry) clearTimeout(this.#expiry);
    await this.#ticking;
    if (opts.release !== false) await this.release();
  }

  async release(): Promise<void> {
    const token = this.#token;
    if (token === undefined) return;
    this.#depose('released');
    await this.#db
      .query(`UPDATE qw_lease SET expires_at = ${nowSql(4)} WHERE name = $1 AND holder = $2 AND token = $3`, [this.name, this.holder, token, this.#clock?.now() ?? null], 'releasing the leader lease')
      .catch((err) => this.#log.warn({ error: (err as Error).message }, 'could not release the leader lease (it will lapse)'));
  }
}
