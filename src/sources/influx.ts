/**
 * Checks fed from InfluxDB — the Kapacitor deadman, without Kapacitor. A check whose config has
 * `source: { type: 'influxdb', … }` gets no pushed events; instead this source polls
 *
 *   SELECT last("<field>") FROM "<measurement>" WHERE <tag filter> [AND time > now() - <lookback>]
 *
 * over the v1 `/query` endpoint (InfluxDB 1.x, 2.x via DBRP, 3.x) and reports the newest point's time
 * to `onAdvance(check, lastPointTime)` whenever it moved forward. The shell feeds that to the engine as
 * the check's last event, so a measurement that stops being written goes quiet, then down.
 *
 * One field only: InfluxDB 1.x's `last(*)` over several fields reports time 0.
 * Polls are scheduled on one timer for the earliest due check (a min-heap), never one timer per check.
 */
import { z } from 'zod';
import { systemClock, type Clock } from '../lib/clock.ts';
import { errorForStatus, networkError, PermanentError, QuietwatchError } from '../lib/errors.ts';
import { MinHeap } from '../lib/heap.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import type { Secret } from '../lib/secret.ts';
import { durationSchema as durationMs, secretSchema } from '../lib/schema.ts';
import { quoteIdent, tagFilter, timeLiteral } from './influxql.ts';

export const influxSourceSchema = z
  .object({
    type: z.literal('influxdb'),
    /** Base URL of InfluxDB, e.g. http://influxdb:8086. */
    url: z.string().url(),
    /** Database (1.x) or the database name mapped to a bucket by a DBRP (2.x) / the database (3.x). */
    database: z.string().min(1),
    retentionPolicy: z.string().min(1).optional(),
    measurement: z.string().min(1),
    /** The one field whose newest point counts as the check's last event. */
    field: z.string().min(1),
    /** Tag filter: every tag must equal its value. */
    where: z.record(z.string(), z.string()).default({}),
    pollInterval: durationMs.default(30_000),
    /** Only look this far back (keeps `last()` off old shards). Unset: no time bound. */
    lookback: durationMs.optional(),
    /** Timeout of one query. */
    timeout: durationMs.default(5_000),
    /**
     * Learned limits and rate-drop count the points of each polled interval this long after it
     * ended, so that points written late are still counted (a point written later than this is not).
     */
    countDelay: durationMs.default(30_000),
    /** 2.x/3.x: `Authorization: Token …`. */
    token: secretSchema.optional(),
    /** 1.x with auth: basic auth. */
    username: z.string().min(1).optional(),
    password: secretSchema.optional(),
  })
  .refine((s) => !(s.token && s.username), { message: 'give either token or username/password, not both', path: ['token'] })
  .refine((s) => !s.password || s.username, { message: 'password needs a username', path: ['username'] })
  .refine((s) => s.pollInterval >= 1000, { message: 'pollInterval must be at least 1s', path: ['pollInterval'] });

export type InfluxSourceConfig = z.output<typeof influxSourceSchema>;
export type InfluxSourceConfigInput = z.input<typeof influxSourceSchema>;

export interface InfluxFedCheck {
  name: string;
  source: InfluxSourceConfig;
}

export interface HistoryBucket {
  /** Bucket start, epoch ms. */
  start: number;
  /** Points in the bucket. */
  count: number;
}

/** The newest-point query for one check. */
export function lastPointQuery(s: Pick<InfluxSourceConfig, 'measurement' | 'field' | 'where' | 'lookback' | 'retentionPolicy'>): string {
  const conds = [tagFilter(s.where)].filter(Boolean);
  if (s.lookback !== undefined) conds.push(`time > now() - ${Math.max(1, Math.round(s.lookback))}ms`);
  const where = conds.length ? ` WHERE ${conds.join(' AND ')}` : '';
  return `SELECT last(${quoteIdent(s.field)}) FROM ${from(s)}${where}`;
}

/** Points in [since, until) (for learned limits and rate-drop while polling); per `perMs` bucket when given. */
export function countQuery(s: Pick<InfluxSourceConfig, 'measurement' | 'field' | 'where' | 'retentionPolicy'>, since: number, until: number, perMs?: number): string {
  const conds = [tagFilter(s.where), `time >= ${timeLiteral(since)}`, `time < ${timeLiteral(until)}`].filter(Boolean);
  const group = perMs ? ` GROUP BY time(${Math.round(perMs)}ms) fill(0)` : '';
  return `SELECT count(${quoteIdent(s.field)}) FROM ${from(s)} WHERE ${conds.join(' AND ')}${group}`;
}

/** A counted interval longer than this (a catch-up after a restart or an InfluxDB outage) is counted per minute, keeping its shape. */
const COUNT_SPLIT_MS = 120_000;

/** Points per bucket since `since` (for learned limits). */
export function historyQuery(
  s: Pick<InfluxSourceConfig, 'measurement' | 'field' | 'where' | 'retentionPolicy'>,
  since: number,
  until: number,
  bucketMs: number,
): string {
  const conds = [tagFilter(s.where), `time >= ${timeLiteral(since)}`, `time < ${timeLiteral(until)}`].filter(Boolean);
  return `SELECT count(${quoteIdent(s.field)}) FROM ${from(s)} WHERE ${conds.join(' AND ')} GROUP BY time(${Math.round(bucketMs)}ms) fill(0)`;
}

function from(s: { measurement: string; retentionPolicy?: string }): string {
  return s.retentionPolicy ? `${quoteIdent(s.retentionPolicy)}.${quoteIdent(s.measurement)}` : quoteIdent(s.measurement);
}

interface QuerySeries {
  name: string;
  columns: string[];
  values?: unknown[][];
}

/** GET /query and return the first statement's series; typed errors for HTTP, network and statement failures. */
export async function influxQuery(s: InfluxSourceConfig, q: string, fetchFn: typeof fetch = fetch): Promise<QuerySeries[]> {
  const params = new URLSearchParams({ db: s.database, q, epoch: 'ms' });
  if (s.retentionPolicy) params.set('rp', s.retentionPolicy);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (s.token) headers.authorization = `Token ${(s.token as Secret).reveal()}`;
  else if (s.username) {
    const pw = (s.password as Secret | undefined)?.reveal() ?? '';
    headers.authorization = `Basic ${Buffer.from(`${s.username}:${pw}`).toString('base64')}`;
  }
  const url = `${s.url.replace(/\/+$/, '')}/query?${params}`;
  let res: Response;
  let text: string;
  try {
    res = await fetchFn(url, { headers, signal: AbortSignal.timeout(s.timeout) });
    text = await res.text();
  } catch (err) {
    throw networkError('influxdb', err);
  }
  const httpErr = errorForStatus('influxdb', res.status, text, res.headers.get('retry-after'));
  if (httpErr) throw httpErr;
  let body: { error?: string; results?: { error?: string; series?: QuerySeries[] }[] };
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new PermanentError('INFLUXDB_BAD_RESPONSE', `influxdb answered non-JSON: ${text.slice(0, 200)}`, { cause: err });
  }
  const stmtErr = body.error ?? body.results?.[0]?.error;
  if (stmtErr) throw new PermanentError('INFLUXDB_QUERY', `influxdb query failed: ${stmtErr}`);
  return body.results?.[0]?.series ?? [];
}

export interface InfluxSourceDeps {
  clock?: Clock;
  logger?: Logger;
  /** A poll failed (the check simply sees no new point; it goes quiet/down on its own deadlines). */
  onError?: (check: string, err: QuietwatchError) => void;
  fetch?: typeof fetch;
  /**
   * Points counted in [from, to) — for checks `countFrom` was called for, on every poll once the
   * interval is `countDelay` old. Intervals follow each other without gap or overlap; a failed
   * count is retried (with a longer interval) on the next poll, so nothing is skipped.
   */
  onCounts?: (check: string, from: number, to: number, count: number) => void;
}

interface Watched {
  check: InfluxFedCheck;
  query: string;
  /** Counting cursor: points before it have been reported to onCounts. */
  countFrom?: number;
  last?: number;
  inFlight?: Promise<number | undefined>;
  lastError?: string;
  lastPollAt?: number;
}

export class InfluxSource {
  readonly #watched = new Map<string, Watched>();
  readonly #onAdvance: (check: string, lastPointTime: number) => void;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #onError: (check: string, err: QuietwatchError) => void;
  readonly #fetch: typeof fetch;
  readonly #onCounts: NonNullable<InfluxSourceDeps['onCounts']>;
  #heap = new MinHeap<string>();
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  #running = false;
  /** Bumped by stop(): polls started before it do not reschedule themselves. */
  #generation = 0;

  constructor(checks: readonly InfluxFedCheck[], onAdvance: (check: string, lastPointTime: number) => void, deps: InfluxSourceDeps = {}) {
    this.#onAdvance = onAdvance;
    this.#clock = deps.clock ?? systemClock;
    this.#log = (deps.logger ?? silentLogger()).child({ component: 'sources.influxdb' });
    this.#onError = deps.onError ?? (() => {});
    this.#fetch = deps.fetch ?? fetch;
    this.#onCounts = deps.onCounts ?? (() => {});
    for (const c of checks) {
      const source = influxSourceSchema.parse(c.source);
      this.#watched.set(c.name, { check: { name: c.name, source }, query: lastPointQuery(source) });
    }
  }

  /** Poll every check now, then each every its pollInterval. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    const now = this.#clock.now();
    for (const name of this.#watched.keys()) this.#heap.push(now, name);
    this.#arm();
  }

  /** Resolves once no poll is in flight (tests in virtual time wait for the real I/O of a poll). */
  async idle(): Promise<void> {
    for (;;) {
      const busy = [...this.#watched.values()].map((w) => w.inFlight).filter((p): p is Promise<number | undefined> => p !== undefined);
      if (busy.length === 0) return;
      await Promise.allSettled(busy);
    }
  }

  stop(): void {
    this.#running = false;
    this.#generation++;
    this.#heap = new MinHeap<string>();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  /** Count this check's points from `from` on (reported to onCounts by each poll). */
  countFrom(check: string, from: number): void {
    const w = this.#watched.get(check);
    if (!w) throw new Error(`unknown influx-fed check: ${check}`);
    w.countFrom = from;
  }

  /** The newest point time seen for a check. */
  lastPointTime(check: string): number | undefined {
    return this.#watched.get(check)?.last;
  }

  status(check: string): { lastPointTime?: number; lastPollAt?: number; lastError?: string } | undefined {
    const w = this.#watched.get(check);
    if (!w) return undefined;
    return { lastPointTime: w.last, lastPollAt: w.lastPollAt, lastError: w.lastError };
  }

  /**
   * Poll one check now. Reports to onAdvance when the newest point moved forward; returns its time
   * (undefined when there is no point, or on error — errors go to onError, never thrown).
   */
  poll(check: string): Promise<number | undefined> {
    const w = this.#watched.get(check);
    if (!w) return Promise.reject(new Error(`unknown influx-fed check: ${check}`));
    if (w.inFlight) return w.inFlight;
    w.inFlight = this.#pollOnce(w).finally(() => (w.inFlight = undefined));
    return w.inFlight;
  }

  /**
   * Points per `bucketMs` bucket (default 5 min) from `since` until now, for learning a check's normal.
   * Throws typed errors (this is a one-off call, not the hot polling loop).
   */
  async seedHistory(check: string, since: number, opts: { bucketMs?: number; until?: number } = {}): Promise<HistoryBucket[]> {
    const w = this.#watched.get(check);
    if (!w) throw new Error(`unknown influx-fed check: ${check}`);
    const q = historyQuery(w.check.source, since, opts.until ?? this.#clock.now(), opts.bucketMs ?? 300_000);
    const series = await influxQuery(w.check.source, q, this.#fetch);
    const out: HistoryBucket[] = [];
    for (const s of series) for (const row of s.values ?? []) out.push({ start: Number(row[0]), count: Number(row[1] ?? 0) });
    return out.sort((a, b) => a.start - b.start);
  }

  async #pollOnce(w: Watched): Promise<number | undefined> {
    w.lastPollAt = this.#clock.now();
    let series: QuerySeries[];
    try {
      series = await influxQuery(w.check.source, w.query, this.#fetch);
    } catch (err) {
      const e = err instanceof QuietwatchError ? err : networkError('influxdb', err);
      if (w.lastError !== e.message) this.#log.warn({ check: w.check.name, err: e.message, code: e.code }, 'influxdb source poll failed');
      w.lastError = e.message;
      try {
        this.#onError(w.check.name, e);
      } catch {
        /* a callback bug must not stop polling */
      }
      return undefined;
    }
    w.lastError = undefined;
    let newest: number | undefined;
    for (const s of series)
      for (const row of s.values ?? []) {
        const t = Number(row[0]);
        if (Number.isFinite(t) && t > 0 && (newest === undefined || t > newest)) newest = t;
      }
    if (newest !== undefined && (w.last === undefined || newest > w.last)) {
      w.last = newest;
      try {
        this.#onAdvance(w.check.name, newest);
      } catch (err) {
        this.#log.error({ check: w.check.name, err }, 'onAdvance threw');
      }
    }
    await this.#count(w);
    return newest;
  }

  /** Report the points of [countFrom, now - countDelay) and move the cursor; on failure keep it (retried next poll). */
  async #count(w: Watched): Promise<void> {
    const from = w.countFrom;
    if (from === undefined) return;
    const until = this.#clock.now() - w.check.source.countDelay;
    if (until <= from) return;
    const split = until - from > COUNT_SPLIT_MS ? 60_000 : undefined;
    // [from, to, n] pieces covering [from, until) without gap or overlap.
    const pieces: Array<[number, number, number]> = [];
    try {
      const series = await influxQuery(w.check.source, countQuery(w.check.source, from, until, split), this.#fetch);
      if (!split) {
        let n = 0;
        for (const s of series) for (const row of s.values ?? []) n += Number(row[1] ?? 0) || 0;
        pieces.push([from, until, n]);
      } else {
        const per = new Map<number, number>();
        for (const s of series) for (const row of s.values ?? []) per.set(Number(row[0]), (per.get(Number(row[0])) ?? 0) + (Number(row[1] ?? 0) || 0));
        // Buckets are aligned to the minute; the first and last are clipped to [from, until).
        for (let b = Math.floor(from / split) * split; b < until; b += split) pieces.push([Math.max(b, from), Math.min(b + split, until), per.get(b) ?? 0]);
      }
    } catch (err) {
      const e = err instanceof QuietwatchError ? err : networkError('influxdb', err);
      this.#log.warn({ check: w.check.name, err: e.message, code: e.code }, 'influxdb source count failed (retried on the next poll)');
      return;
    }
    if (w.countFrom !== from) return; // re-pointed meanwhile
    w.countFrom = until;
    for (const [a, b, n] of pieces) {
      try {
        this.#onCounts(w.check.name, a, b, n);
      } catch (err) {
        this.#log.error({ check: w.check.name, err }, 'onCounts threw');
      }
    }
  }

  #arm(): void {
    if (!this.#running) return;
    const top = this.#heap.peek();
    if (!top) return;
    if (this.#timer && this.#timerAt <= top.key) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = top.key;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, top.key - this.#clock.now()));
    this.#timer.unref?.();
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = this.#clock.now();
    const generation = this.#generation;
    for (let top = this.#heap.peek(); top && top.key <= now; top = this.#heap.peek()) {
      this.#heap.pop();
      const w = this.#watched.get(top.value);
      if (!w) continue;
      void this.poll(top.value).finally(() => {
        if (!this.#running || generation !== this.#generation) return;
        this.#heap.push(this.#clock.now() + w.check.source.pollInterval, top.value);
        this.#arm();
      });
    }
    this.#arm();
  }
}
