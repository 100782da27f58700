/**
 * The board's memory of the last hours, per check: the state bands (from flips) and the count of
 * real events per minute, next to the learned normal for each minute. In memory, bounded (6 h of
 * one-minute buckets per check); after a restart the bands are read back from the stored flips
 * (`load`), the counts start over. The tiles draw a state strip (like Uptime Kuma's heartbeat bar
 * or Grafana's state timeline) and a sparkline of the rate against its normal.
 *
 * Nothing here reads the clock by itself: `now` comes from the injected clock at each call.
 */
import { attributePath, type AttrValue, type CheckRuntime } from '../checks/runtime.ts';
import type { CheckStatus, Flip } from '../checks/types.ts';
import type { Clock } from '../lib/clock.ts';

export const HISTORY_WINDOW_MS = 6 * 3600_000;
export const RATE_BUCKET_MS = 60_000;
const BUCKETS = HISTORY_WINDOW_MS / RATE_BUCKET_MS;

/** A state band: `status` from `from` until `to` (null: until now). */
export interface Band {
  from: number;
  to: number | null;
  status: CheckStatus | 'none';
}

export interface RateSeries {
  /** Start of the first bucket (epoch ms); buckets are RATE_BUCKET_MS long, the last one is the current, partial one. */
  start: number;
  bucketMs: number;
  /** Real events per bucket (probe transactions are not counted). */
  counts: number[];
  /** The learned normal for each bucket (events per bucket), or null where nothing is learned. */
  expected: Array<number | null>;
}

export interface CheckHistory {
  /** Oldest first, covering [now - 6 h, now]; 'none' where the board knows nothing. */
  bands: Band[];
  /** Undefined when nothing feeds the board counts (see `recordEvents`). */
  rate?: RateSeries;
}

/** What an accepted event looks like to the board (the ingest's IngestEvent fits). */
export interface AcceptedEvent {
  stream: string;
  arrivedAt: number;
  attributes: Record<string, AttrValue>;
  /** Addressed to one check only. */
  check?: string;
}

export interface HistoryOptions {
  runtime: CheckRuntime;
  clock: Clock;
  /** Probe transactions are not traffic: they are left out of the counts. */
  isSynthetic?: (attributes: Record<string, AttrValue>) => boolean;
}

interface Track {
  /** Transitions, oldest first: [at, status]. The first entry is where knowledge starts. */
  points: Array<[number, CheckStatus]>;
  /**
   * Counts by absolute bucket index (floor(t / bucket)), flat and in bucket order:
   * [bucket, count, bucket, count, …] (a Map per check cost 600 bytes at 100,000 checks).
   */
  counts: number[];
}

function matches(match: Record<string, string[]>, attrs: Record<string, AttrValue>): boolean {
  for (const key in match) {
    const v = attributePath(attrs, key);
    if (v === undefined || v === null || typeof v === 'object') return false;
    if (!match[key]!.includes(String(v))) return false;
  }
  return true;
}

export class BoardHistory {
  readonly #o: HistoryOptions;
  readonly #tracks = new Map<string, Track>();
  #fed = false;
  readonly #onFlip = (f: Flip) => this.recordFlip(f);

  constructor(o: HistoryOptions) {
    this.#o = o;
    const now = o.clock.now();
    for (const s of o.runtime.snapshots()) this.#tracks.set(s.name, { points: [[Math.max(s.since, now - HISTORY_WINDOW_MS), s.status]], counts: [] });
    o.runtime.on('flip', this.#onFlip);
  }

  /** Stop listening to the runtime. */
  close(): void {
    this.#o.runtime.off('flip', this.#onFlip);
  }

  /** Whether anything feeds counts (`recordEvents`): the sparkline is drawn only then. */
  get counting(): boolean {
    return this.#fed;
  }

  /**
   * Read the bands back from stored flips (after a restart). `flips` is newest first or oldest
   * first, for one check; flips older than the window only set the state at its start.
   */
  load(check: string, flips: ReadonlyArray<Pick<Flip, 'at' | 'from' | 'to'>>): void {
    const t = this.#tracks.get(check);
    if (!t) return;
    const now = this.#o.clock.now();
    const start = now - HISTORY_WINDOW_MS;
    const sorted = [...flips].sort((a, b) => a.at - b.at);
    const known = t.points;
    const firstKnown = known[0]![0];
    const pts: Array<[number, CheckStatus]> = [];
    for (const f of sorted) {
      if (f.at >= firstKnown) break; // what the runtime told us since start wins
      if (f.at < start) {
        pts.length = 0;
        pts.push([start, f.to]);
      } else {
        if (pts.length === 0) pts.push([Math.max(start, f.at - 1), f.from]);
        pts.push([f.at, f.to]);
      }
    }
    if (pts.length) t.points = [...pts, ...known.filter(([at]) => at >= firstKnown)];
  }

  /**
   * A takeover (replicas): this replica's runtime announced no flip while it followed, so the bands
   * since its start are read again from the stored flips — the old leader's — replacing what it
   * had up to the newest stored one (later flips it saw itself stay). No stored flip: unchanged.
   */
  reload(check: string, flips: ReadonlyArray<Pick<Flip, 'at' | 'from' | 'to'>>): void {
    const t = this.#tracks.get(check);
    if (!t || flips.length === 0) return;
    const start = this.#o.clock.now() - HISTORY_WINDOW_MS;
    const pts: Array<[number, CheckStatus]> = [];
    for (const f of [...flips].sort((a, b) => a.at - b.at)) {
      if (f.at < start) {
        pts.length = 0;
        pts.push([start, f.to]);
      } else {
        if (pts.length === 0) pts.push([Math.max(start, f.at - 1), f.from]);
        if (pts.at(-1)![1] !== f.to) pts.push([f.at, f.to]);
      }
    }
    const newest = pts.at(-1)![0];
    t.points = [...pts, ...t.points.filter(([at]) => at > newest)];
    this.#trim(t);
  }

  /** reload() for every check, reading each one's stored flips (newest first or oldest first), a slice of checks per turn. */
  async reloadAll(read: (check: string, limit: number) => Promise<ReadonlyArray<Pick<Flip, 'at' | 'from' | 'to'>>>): Promise<void> {
    const names = this.#o.runtime.names();
    for (let i = 0; i < names.length; i += 1000) {
      if (i > 0) await new Promise<void>((r) => setImmediate(r));
      await Promise.all(names.slice(i, i + 1000).map(async (name) => this.reload(name, await read(name, 500))));
    }
  }

  recordFlip(f: Pick<Flip, 'check' | 'at' | 'to'>): void {
    const t = this.#tracks.get(f.check);
    if (!t) return;
    const last = t.points.at(-1)!;
    if (f.at < last[0]) {
      // An out-of-order flip: insert it where it belongs.
      const i = t.points.findIndex(([at]) => at > f.at);
      t.points.splice(i, 0, [f.at, f.to]);
    } else if (last[1] !== f.to) t.points.push([f.at, f.to]);
    this.#trim(t);
  }

  /**
   * Count a batch of accepted events (wire to the ingest's onAccepted). Events addressed to one
   * check (an InfluxDB-fed check's newest point) are skipped: one stands for a whole poll, so those
   * checks are counted with `recordCount` from the points counted per poll.
   */
  recordEvents(events: readonly AcceptedEvent[]): void {
    this.#fed = true;
    const rt = this.#o.runtime;
    for (const ev of events) {
      if (ev.check !== undefined || this.#o.isSynthetic?.(ev.attributes)) continue;
      // Only the checks of this stream (a scan of every check per event stalled ingest at 100,000 checks).
      const specs = typeof rt.specsFor === 'function' ? rt.specsFor(ev.stream) : rt.names().map((n) => rt.spec(n)!).filter((sp) => sp?.stream === ev.stream);
      for (const spec of specs) {
        if (!matches(spec.match, ev.attributes)) continue;
        this.recordCount(spec.name, ev.arrivedAt, 1);
      }
    }
  }

  /** Add `n` real events at `at` to a check's count (also for checks fed from InfluxDB, by points). */
  recordCount(check: string, at: number, n: number): void {
    const t = this.#tracks.get(check);
    if (!t || !(n > 0)) return;
    this.#fed = true;
    const b = Math.floor(at / RATE_BUCKET_MS);
    const c = t.counts;
    // Mostly the newest bucket; an older one is found (or inserted) in order.
    let i = c.length - 2;
    while (i >= 0 && c[i]! > b) i -= 2;
    if (i >= 0 && c[i] === b) c[i + 1]! += n;
    else c.splice(i + 2, 0, b, n);
    if (c.length > 2 * (BUCKETS + 5)) {
      const oldest = Math.floor((this.#o.clock.now() - HISTORY_WINDOW_MS) / RATE_BUCKET_MS);
      let drop = 0;
      while (drop < c.length && c[drop]! < oldest) drop += 2;
      c.splice(0, drop);
    }
  }

  /** The last 6 hours of one check. */
  history(check: string): CheckHistory | undefined {
    const t = this.#tracks.get(check);
    if (!t) return undefined;
    const now = this.#o.clock.now();
    const start = now - HISTORY_WINDOW_MS;
    // A state the runtime did not announce as a flip (a check that stays down across a restart) is
    // taken from its snapshot, from when it entered that state.
    const snap = this.#o.runtime.snapshot(check);
    const last = t.points.at(-1)!;
    if (snap && last[1] !== snap.status) {
      if (snap.since <= last[0] && t.points.length === 1) t.points[0] = [Math.max(snap.since, start), snap.status];
      else t.points.push([Math.max(snap.since, last[0]), snap.status]);
    }
    this.#trim(t);
    const bands: Band[] = [];
    const first = t.points[0]!;
    if (first[0] > start) bands.push({ from: start, to: first[0], status: 'none' });
    t.points.forEach(([at, status], i) => {
      const next = t.points[i + 1];
      bands.push({ from: Math.max(at, start), to: next ? next[0] : null, status });
    });
    const out: CheckHistory = { bands: bands.filter((b) => b.to === null || b.to > b.from) };
    if (this.#fed) {
      const b0 = Math.floor(start / RATE_BUCKET_MS) + 1;
      const bNow = Math.floor(now / RATE_BUCKET_MS);
      const limits = this.#o.runtime.spec(check)?.limits;
      const counts: number[] = [];
      const expected: Array<number | null> = [];
      const c = t.counts;
      let j = 0;
      while (j < c.length && c[j]! < b0) j += 2;
      for (let b = b0; b <= bNow; b++) {
        if (j < c.length && c[j] === b) {
          counts.push(c[j + 1]!);
          j += 2;
        } else counts.push(0);
        const perMin = limits?.describe(b * RATE_BUCKET_MS + RATE_BUCKET_MS / 2).expectedPerMinute;
        expected.push(typeof perMin === 'number' && Number.isFinite(perMin) ? +(perMin * (RATE_BUCKET_MS / 60_000)).toFixed(3) : null);
      }
      out.rate = { start: b0 * RATE_BUCKET_MS, bucketMs: RATE_BUCKET_MS, counts, expected };
    }
    return out;
  }

  #trim(t: Track): void {
    const start = this.#o.clock.now() - HISTORY_WINDOW_MS;
    // Keep the last point at or before the window's start: it is the state the window opens with.
    let drop = 0;
    while (drop + 1 < t.points.length && t.points[drop + 1]![0] <= start) drop++;
    if (drop) t.points.splice(0, drop);
  }
}
