/**
 * The InfluxDB sink: every fact becomes a point (docs/metrics.md), written with the v2 write API of
 * `@influxdata/influxdb-client` (InfluxDB 1.8+, 2.x, 3.x), or with `version: 1` as line protocol to
 * the 1.x `/write?db=…&rp=…&precision=…` endpoint (Basic auth username/password), which every 1.x
 * has (Debian's 1.6 among them). A v2 write answered 404 by a server without `/api/v2/write` says
 * "this InfluxDB has no v2 write API (older than 1.8): set version: 1".
 *
 * Delivery is ours, not the client's. The client's own retry buffer gives every failed batch a retry
 * count and an expiry (maxRetries 5, maxRetryTime 180 s by default) and, past `maxBufferLines`, sheds
 * about 30 % of its lines at once; during an outage longer than maxRetryTime it throws everything away
 * whatever the bound, and a batch waits out its own backoff (up to 125 s) after InfluxDB is back. So the
 * client is used with `maxRetries: 0` as a plain transport, and this sink keeps one bounded FIFO in
 * front of it: points wait there (oldest dropped and counted past `maxBufferPoints`) until a write
 * succeeds; one batch is in flight at a time; a failed batch goes back to the front and the next attempt
 * waits a capped exponential backoff (src/lib/retry.ts), so writing resumes within `maxRetryDelay` of
 * InfluxDB's return. A batch the server rejects as malformed (4xx) is dropped and counted.
 *
 * Callers are never blocked or thrown at: every MetricsSink method only appends to memory.
 */
import { InfluxDB, HttpError, Point, setLogger, type WriteApi } from '@influxdata/influxdb-client';
import { z } from 'zod';
import { systemClock, type Clock } from '../lib/clock.ts';
import { errorForStatus, networkError, PermanentError, QuietwatchError } from '../lib/errors.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import { backoffDelay } from '../lib/retry.ts';
import type { Secret } from '../lib/secret.ts';
import { durationSchema as durationMs, secretSchema } from '../lib/schema.ts';
import {
  STATE_CODE,
  type CheckRef,
  type CheckState,
  type ExpectedRates,
  type HealthFact,
  type MetricsSink,
  type NotificationFact,
  type ProbeFact,
  type SinkStatus,
} from './sink.ts';
import { lagOutOfRange, StreamLabels } from './stream-labels.ts';

const V2_ONLY = ['token', 'org', 'bucket'] as const;
const V1_ONLY = ['database', 'retentionPolicy', 'username', 'password'] as const;

export const influxConfigSchema = z
  .object({
    /** 2 (default): the v2 write API (/api/v2/write: InfluxDB 1.8+, 2.x, 3.x). 1: the 1.x /write API (any 1.x, e.g. Debian's 1.6). */
    version: z.union([z.literal(1), z.literal(2)]).default(2),
    /** Base URL, e.g. http://influxdb:8086 (no /api/v2). */
    url: z.string().url(),
    /** version 2: API token (2.x/3.x), or `username:password` for 1.8; omit for 1.8 without auth. */
    token: secretSchema.optional(),
    /** version 2: organisation (2.x); ignored by 1.8 and 3.x. */
    org: z.string().optional(),
    /** version 2: bucket (2.x/3.x) or `database/retention-policy` (1.8). */
    bucket: z.string().min(1).optional(),
    /** version 1: the database (must exist: CREATE DATABASE quietwatch). */
    database: z.string().min(1).optional(),
    /** version 1: retention policy; omit for the database's default. */
    retentionPolicy: z.string().min(1).optional(),
    /** version 1 with auth enabled: sent as HTTP Basic auth. */
    username: z.string().min(1).optional(),
    password: secretSchema.optional(),
    precision: z.enum(['s', 'ms', 'us', 'ns']).default('ms'),
    /** How often aggregated counters are emitted and the buffer is written. */
    flushInterval: durationMs.default(10_000),
    /** Points per write request. */
    batchSize: z.number().int().positive().default(2_000),
    /** Points kept while InfluxDB is unreachable; past it the oldest are dropped and counted. */
    maxBufferPoints: z.number().int().positive().default(100_000),
    /** Timeout of one write request. */
    timeout: durationMs.default(10_000),
    /** Cap on the backoff between attempts while InfluxDB is failing. */
    maxRetryDelay: durationMs.default(30_000),
    /** Tags added to every point (e.g. `host`, `env`). */
    defaultTags: z.record(z.string(), z.string()).default({}),
  })
  .superRefine((c, ctx) => {
    if (c.batchSize > c.maxBufferPoints) ctx.addIssue({ code: 'custom', message: 'batchSize must not exceed maxBufferPoints', path: ['batchSize'] });
    if (c.version === 2) {
      if (!c.bucket) ctx.addIssue({ code: 'custom', path: ['bucket'], message: 'is required (version 2: InfluxDB 1.8+, 2.x, 3.x); for an InfluxDB 1.x older than 1.8 set version: 1 and database' });
      for (const k of V1_ONLY) if (c[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'is only used with version: 1 (the 1.x /write API)' });
    } else {
      if (!c.database) ctx.addIssue({ code: 'custom', path: ['database'], message: 'is required with version: 1' });
      for (const k of V2_ONLY) if (c[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `is not used with version: 1 (${k === 'token' ? 'use username and password' : 'name the database, and retentionPolicy if not the default'})` });
      if ((c.username === undefined) !== (c.password === undefined)) ctx.addIssue({ code: 'custom', path: [c.username === undefined ? 'username' : 'password'], message: 'username and password go together' });
    }
  });

export type InfluxConfig = z.output<typeof influxConfigSchema>;
export type InfluxConfigInput = z.input<typeof influxConfigSchema>;

export interface InfluxSinkDeps {
  clock?: Clock;
  logger?: Logger;
  /** For tests: replaces Math.random in the backoff jitter. */
  random?: () => number;
}

type Precision = InfluxConfig['precision'];

/** A line-protocol line's series key: measurement and tags, up to the first unescaped space. */
function seriesKey(line: string): string {
  for (let i = 0; i < line.length; i++) {
    if (line.charCodeAt(i) === 92) i++; // backslash: the next character is escaped
    else if (line.charCodeAt(i) === 32) return line.slice(0, i);
  }
  return line;
}

/** Epoch ms -> the integer timestamp string of `precision` (string concatenation keeps ns exact). */
export function toTimestamp(ms: number, precision: Precision): string {
  const whole = Math.floor(ms);
  switch (precision) {
    case 's':
      return String(Math.floor(whole / 1000));
    case 'ms':
      return String(whole);
    case 'us':
      return `${whole}000`;
    case 'ns':
      return `${whole}000000`;
  }
}

/** A fixed-capacity double-ended queue of lines; O(1) at both ends. */
class LineDeque {
  readonly #buf: (string | undefined)[];
  #head = 0;
  #size = 0;
  constructor(readonly capacity: number) {
    this.#buf = new Array(capacity);
  }
  get size(): number {
    return this.#size;
  }
  pushBack(line: string): void {
    this.#buf[(this.#head + this.#size) % this.capacity] = line;
    this.#size++;
  }
  popFront(): string | undefined {
    if (this.#size === 0) return undefined;
    const v = this.#buf[this.#head];
    this.#buf[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.capacity;
    this.#size--;
    return v;
  }
  /** Put lines back in front, keeping their order. The caller guarantees the room. */
  pushFront(lines: readonly string[]): void {
    for (let i = lines.length - 1; i >= 0; i--) {
      this.#head = (this.#head - 1 + this.capacity) % this.capacity;
      this.#buf[this.#head] = lines[i];
      this.#size++;
    }
  }
  takeFront(n: number): string[] {
    const out: string[] = [];
    while (out.length < n && this.#size > 0) out.push(this.popFront()!);
    return out;
  }
}

interface LagAgg {
  sum: number;
  max: number;
  count: number;
}

export class InfluxSink implements MetricsSink {
  readonly #cfg: InfluxConfig;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #random: () => number;
  readonly #transport: Transport;
  readonly #queue: LineDeque;
  readonly #convert: { convertTime: (t: unknown) => string | undefined; defaultTags?: Record<string, string> };
  /** key `stream\u0000synthetic` -> count this interval (known streams stay, and report 0). */
  readonly #events = new Map<string, { stream: string; synthetic: boolean; count: number }>();
  readonly #lag = new Map<string, LagAgg>();
  /** Stream labels are bounded: streams beyond the cap are counted as `_other` (see stream-labels.ts). */
  readonly #streams = new StreamLabels();
  #lastAggregateAt: number;
  #inflight = 0;
  #sending: Promise<void> | undefined;
  #kickScheduled = false;
  #backoff: NodeJS.Timeout | undefined;
  #interval: NodeJS.Timeout | undefined;
  #attempt = 0;
  #failing: 'unreachable' | 'rejected' | undefined;
  #lastError: string | undefined;
  #dropped = 0;
  #written = 0;
  #closed = false;

  constructor(config: InfluxConfigInput | InfluxConfig, deps: InfluxSinkDeps = {}) {
    this.#cfg = influxConfigSchema.parse(config);
    this.#clock = deps.clock ?? systemClock;
    this.#log = (deps.logger ?? silentLogger()).child({ component: 'metrics.influxdb' });
    this.#random = deps.random ?? Math.random;
    this.#queue = new LineDeque(this.#cfg.maxBufferPoints);
    this.#lastAggregateAt = this.#clock.now();
    const precision = this.#cfg.precision;
    this.#convert = {
      convertTime: (t) => (typeof t === 'string' ? t : toTimestamp(Number(t ?? this.#clock.now()), precision)),
      ...(Object.keys(this.#cfg.defaultTags).length ? { defaultTags: this.#cfg.defaultTags } : {}),
    };
    // The client logs every failed write to the console; we report through status() and our logger.
    setLogger({ error: (m: string) => this.#log.debug({ client: m }, 'influxdb client'), warn: (m: string) => this.#log.debug({ client: m }, 'influxdb client') });
    this.#transport = this.#cfg.version === 1 ? new V1Transport(this.#cfg) : new V2Transport(this.#cfg);
  }

  /** Start the flush timer (aggregates + writes every flushInterval). */
  start(): this {
    if (!this.#interval && !this.#closed) {
      this.#interval = setInterval(() => this.#tick(), this.#cfg.flushInterval);
      this.#interval.unref();
    }
    return this;
  }

  // ---- MetricsSink -------------------------------------------------------------------------------

  checkState(check: CheckRef, state: CheckState, secs: number | null, at: number, expected?: ExpectedRates): void {
    this.#streams.know(check.stream);
    const p = this.#point('qw_check', check).tag('state', state).intField('state_code', STATE_CODE[state]);
    if (secs !== null && Number.isFinite(secs)) p.floatField('seconds_since_last_event', secs);
    if (expected?.eventsPerMinute !== undefined) p.floatField('expected_per_min', expected.eventsPerMinute);
    if (expected?.quietAfterMs !== undefined) p.floatField('quiet_after_s', expected.quietAfterMs / 1000);
    if (expected?.pageAfterMs !== undefined) p.floatField('page_after_s', expected.pageAfterMs / 1000);
    this.#push(p.timestamp(toTimestamp(at, this.#cfg.precision)));
  }

  events(name: string, count: number, synthetic: boolean, _at: number): void {
    const stream = this.#streams.label(name);
    const key = synthetic ? `${stream}\u0000s` : stream;
    const agg = this.#events.get(key);
    if (agg) agg.count += count;
    else this.#events.set(key, { stream, synthetic, count });
  }

  lag(name: string, lagMs: number, _at: number): void {
    if (lagOutOfRange(lagMs)) return; // a clock or unit problem, not a lag (Prometheus counts these apart)
    lagMs = Math.max(0, lagMs);
    const stream = this.#streams.label(name);
    const agg = this.#lag.get(stream);
    if (agg) {
      agg.sum += lagMs;
      agg.count++;
      if (lagMs > agg.max) agg.max = lagMs;
    } else this.#lag.set(stream, { sum: lagMs, max: lagMs, count: 1 });
  }

  flip(check: CheckRef, from: CheckState, to: CheckState, at: number, reason: string): void {
    const p = this.#point('qw_flip', check)
      .tag('from_state', from)
      .tag('to_state', to)
      .stringField('reason', reason)
      .intField('from_code', STATE_CODE[from])
      .intField('to_code', STATE_CODE[to]);
    this.#push(p.timestamp(toTimestamp(at, this.#cfg.precision)));
  }

  probe(f: ProbeFact): void {
    const p = new Point('qw_probe')
      .tag('check', f.check)
      .tag('result', f.result)
      .tag('currency', f.currency)
      .intField('ok', f.result === 'proven' ? 1 : 0)
      .intField('cost_minor', Math.round(f.costMinor))
      .stringField('probe_id', f.probeId);
    if (f.latencyMs !== undefined) p.floatField('latency_ms', f.latencyMs);
    this.#push(p.timestamp(toTimestamp(f.at, this.#cfg.precision)), true);
  }

  notification(f: NotificationFact): void {
    const p = new Point('qw_notification').tag('notifier', f.notifier).tag('kind', f.kind).tag('outcome', f.outcome).intField('count', 1);
    if (f.deliveryMs !== undefined) p.floatField('delivery_ms', f.deliveryMs);
    this.#push(p.timestamp(toTimestamp(f.at, this.#cfg.precision)), true);
  }

  incidents(openCount: number, at: number): void {
    this.#push(new Point('qw_incidents').intField('open', openCount).timestamp(toTimestamp(at, this.#cfg.precision)));
  }

  health(f: HealthFact): void {
    this.#push(new Point('qw_health').tag('component', f.component).intField('ok', f.ok ? 1 : 0).timestamp(toTimestamp(f.at, this.#cfg.precision)));
  }

  // ---- status ------------------------------------------------------------------------------------

  /** Points dropped since start (buffer bound, or rejected by the server). */
  dropped(): number {
    return this.#dropped;
  }

  /** Points acknowledged by InfluxDB since start. */
  written(): number {
    return this.#written;
  }

  status(): SinkStatus {
    const buffered = this.#queue.size + this.#inflight;
    const full = buffered >= this.#cfg.maxBufferPoints;
    const reason = this.#failing ?? (full ? 'buffer-full' : undefined);
    const s: SinkStatus = { ok: reason === undefined, buffered, dropped: this.#dropped };
    if (reason) s.reason = reason;
    if (this.#lastError) s.lastError = this.#lastError;
    return s;
  }

  /**
   * Emit the aggregates now and write everything buffered (one attempt, ignoring a pending backoff).
   * Resolves when the buffer is empty or a write failed; never rejects.
   */
  async flush(): Promise<void> {
    this.#aggregate();
    if (this.#backoff) {
      clearTimeout(this.#backoff);
      this.#backoff = undefined;
    }
    if (this.#sending) await this.#sending;
    this.#kickNow();
    if (this.#sending) await this.#sending;
  }

  /** Stop timers, try one last flush (bounded by `timeout`), and release the client. */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#interval) clearInterval(this.#interval);
    this.#interval = undefined;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.flush(), new Promise<void>((r) => (timer = setTimeout(r, this.#cfg.timeout)))]);
    clearTimeout(timer);
    this.#closed = true;
    if (this.#backoff) clearTimeout(this.#backoff);
    this.#backoff = undefined;
    this.#transport.dispose();
  }

  // ---- internals ---------------------------------------------------------------------------------

  #point(measurement: string, check: CheckRef): Point {
    const p = new Point(measurement);
    if (check.labels) for (const [k, v] of Object.entries(check.labels)) if (!RESERVED_TAGS.has(k)) p.tag(k, v);
    return p.tag('check', check.name).tag('stream', check.stream);
  }

  /**
   * `unique`: the point is one occurrence (a probe, a notification attempt), summed or counted by the
   * dashboards. InfluxDB keeps one point per series and timestamp (a second write replaces the
   * first), so two notifications of one kind delivered in the same millisecond would count once: such
   * a point takes the next free timestamp of its series (one unit of the precision later). Flips are
   * not: one check cannot make the same flip twice in a millisecond, and a storm's flips would cost a
   * map entry per check.
   */
  #push(p: Point, unique = false): void {
    if (this.#closed) return;
    let line = p.toLineProtocol(this.#convert as never);
    if (!line) return;
    if (unique) line = this.#uniqueTimestamp(line);
    this.#pushLine(line);
  }

  /**
   * Timestamps (in `precision` units) taken by occurrence points, per series key, for the last two
   * flush intervals: a point arriving later than that with the very timestamp of an earlier one is
   * not moved (the set stays bounded by what was written recently, however busy the series).
   */
  readonly #usedTimestamps = new Map<string, Set<bigint>>();

  #uniqueTimestamp(line: string): string {
    const cut = line.lastIndexOf(' ');
    const key = seriesKey(line);
    const original = BigInt(line.slice(cut + 1));
    let used = this.#usedTimestamps.get(key);
    if (!used) this.#usedTimestamps.set(key, (used = new Set()));
    let ts = original;
    while (used.has(ts)) ts++;
    used.add(ts);
    return ts === original ? line : `${line.slice(0, cut)} ${ts}`;
  }

  /** Forget timestamps older than two flush intervals, and series left with none (each tick). */
  #pruneUsedTimestamps(now: number): void {
    const horizon = BigInt(toTimestamp(now - 2 * this.#cfg.flushInterval, this.#cfg.precision));
    for (const [key, used] of this.#usedTimestamps) {
      for (const ts of used) if (ts < horizon) used.delete(ts);
      if (used.size === 0) this.#usedTimestamps.delete(key);
    }
  }

  #pushLine(line: string): void {
    const max = this.#cfg.maxBufferPoints;
    while (this.#queue.size > 0 && this.#queue.size + this.#inflight >= max) {
      this.#queue.popFront();
      this.#dropped++;
    }
    if (this.#queue.size + this.#inflight >= max) {
      this.#dropped++; // everything buffered is in flight: the new point is the one that does not fit
      return;
    }
    this.#queue.pushBack(line);
    if (this.#queue.size >= this.#cfg.batchSize) this.#kickSoon();
  }

  #tick(): void {
    this.#pruneUsedTimestamps(this.#clock.now());
    this.#aggregate();
    this.#kickSoon();
  }

  /** Turn this interval's counters into points (timestamped now). */
  #aggregate(): void {
    const now = this.#clock.now();
    if (now <= this.#lastAggregateAt) return; // no time has passed: nothing to emit
    const ts = toTimestamp(now, this.#cfg.precision);
    const intervalMs = now - this.#lastAggregateAt;
    this.#lastAggregateAt = now;
    for (const agg of this.#events.values()) {
      this.#push(
        new Point('qw_events')
          .tag('stream', agg.stream)
          .tag('synthetic', String(agg.synthetic))
          .intField('count', agg.count)
          .floatField('per_min', (agg.count * 60_000) / intervalMs)
          .timestamp(ts),
      );
      agg.count = 0;
    }
    for (const [stream, agg] of this.#lag) {
      this.#push(new Point('qw_lag').tag('stream', stream).floatField('mean_ms', agg.sum / agg.count).floatField('max_ms', agg.max).intField('count', agg.count).timestamp(ts));
    }
    this.#lag.clear();
  }

  #kickSoon(): void {
    if (this.#kickScheduled) return;
    this.#kickScheduled = true;
    setImmediate(() => {
      this.#kickScheduled = false;
      this.#kickNow();
    });
  }

  #kickNow(): void {
    if (this.#sending || this.#backoff || this.#closed || this.#queue.size === 0) return;
    this.#sending = this.#drain().finally(() => (this.#sending = undefined));
  }

  async #drain(): Promise<void> {
    while (this.#queue.size > 0 && !this.#closed) {
      const batch = this.#queue.takeFront(this.#cfg.batchSize);
      this.#inflight = batch.length;
      try {
        await this.#transport.write(batch);
        this.#inflight = 0;
        this.#written += batch.length;
        if (this.#failing) this.#log.info({ buffered: this.#queue.size, dropped: this.#dropped }, 'influxdb writes resumed');
        this.#failing = undefined;
        this.#attempt = 0;
      } catch (raw) {
        this.#inflight = 0;
        const err = raw instanceof QuietwatchError ? raw : networkError('influxdb', raw);
        this.#lastError = `${err.code}: ${err.message}`;
        if (!err.retryable) {
          this.#dropped += batch.length;
          this.#failing = 'rejected';
          this.#log.warn({ err: this.#lastError, points: batch.length }, 'influxdb rejected a batch; dropped');
          continue;
        }
        this.#queue.pushFront(batch); // room is guaranteed: pushes leave room for the in-flight batch
        this.#attempt++;
        if (!this.#failing) this.#log.warn({ err: this.#lastError }, 'influxdb unreachable; buffering points');
        this.#failing = 'unreachable';
        const delay = backoffDelay(
          { minDelayMs: Math.min(1000, this.#cfg.maxRetryDelay), maxDelayMs: this.#cfg.maxRetryDelay, maxAttempts: Infinity, deadlineMs: Infinity },
          this.#attempt,
          this.#random(),
          err.retryAfterMs,
        );
        this.#backoff = setTimeout(() => {
          this.#backoff = undefined;
          this.#kickNow();
        }, Math.min(delay, this.#cfg.maxRetryDelay));
        this.#backoff.unref();
        return;
      }
    }
  }
}

const RESERVED_TAGS = new Set(['check', 'stream', 'state', 'from_state', 'to_state']);

/** Writes one batch of lines; rejects with a RetryableError or PermanentError. */
interface Transport {
  write(lines: string[]): Promise<void>;
  dispose(): void;
}

/** The v2 write API through @influxdata/influxdb-client, as a plain transport. */
class V2Transport implements Transport {
  readonly #api: WriteApi;
  constructor(cfg: InfluxConfig) {
    const token = cfg.token as Secret | undefined;
    this.#api = new InfluxDB({ url: cfg.url, token: token?.reveal(), timeout: cfg.timeout }).getWriteApi(cfg.org ?? '', cfg.bucket!, cfg.precision, {
      // A plain transport: no client-side retries, no timer, never an automatic flush (we batch).
      maxRetries: 0,
      flushInterval: 0,
      batchSize: cfg.batchSize + 1,
      maxBufferLines: cfg.batchSize + 1,
    });
  }
  async write(lines: string[]): Promise<void> {
    try {
      this.#api.writeRecords(lines);
      await this.#api.flush();
    } catch (err) {
      throw classifyV2(err);
    }
  }
  dispose(): void {
    this.#api.dispose();
  }
}

export const NO_V2_API = 'this InfluxDB has no v2 write API (older than 1.8): set version: 1 (with database) under metrics.influxdb';

function classifyV2(err: unknown): QuietwatchError {
  if (err instanceof HttpError) {
    const body = err.body ?? err.message;
    // 1.x before 1.8 has no /api/v2/write: its router answers a plain-text "404 page not found". (A
    // 404 in JSON — 2.x's unknown bucket or org, 1.8's unknown database — keeps its own message.)
    if (err.statusCode === 404 && !/^\s*\{/.test(body)) return new PermanentError('INFLUXDB_NO_V2_API', `${NO_V2_API} (HTTP 404 from /api/v2/write: ${body.trim().slice(0, 80)})`);
    const retryAfter = err.headers?.['retry-after'];
    const e = errorForStatus('influxdb', err.statusCode, body, Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
    if (e) return e;
  }
  return networkError('influxdb', err);
}

const V1_PRECISION: Record<Precision, string> = { s: 's', ms: 'ms', us: 'u', ns: 'n' };

/** The 1.x write API: POST /write?db=…&rp=…&precision=…, line protocol, HTTP Basic auth. */
class V1Transport implements Transport {
  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #timeout: number;
  constructor(cfg: InfluxConfig) {
    const q = new URLSearchParams({ db: cfg.database!, precision: V1_PRECISION[cfg.precision] });
    if (cfg.retentionPolicy) q.set('rp', cfg.retentionPolicy);
    this.#url = `${cfg.url.replace(/\/+$/, '')}/write?${q}`;
    this.#headers = { 'content-type': 'text/plain; charset=utf-8' };
    const password = cfg.password as Secret | undefined;
    if (cfg.username && password) this.#headers.authorization = `Basic ${Buffer.from(`${cfg.username}:${password.reveal()}`).toString('base64')}`;
    this.#timeout = cfg.timeout;
  }
  async write(lines: string[]): Promise<void> {
    let res: Response;
    try {
      res = await fetch(this.#url, { method: 'POST', headers: this.#headers, body: lines.join('\n'), signal: AbortSignal.timeout(this.#timeout) });
    } catch (err) {
      throw networkError('influxdb', err);
    }
    const text = await res.text().catch(() => '');
    if (res.status === 204 || res.status === 200) return;
    let detail = text;
    try {
      const j = JSON.parse(text) as { error?: string };
      if (typeof j.error === 'string') detail = j.error;
    } catch {
      /* not JSON */
    }
    throw errorForStatus('influxdb', res.status, detail || res.statusText, res.headers.get('retry-after')) ?? new PermanentError(`INFLUXDB_HTTP_${res.status}`, `influxdb answered ${res.status}`);
  }
  dispose(): void {}
}
