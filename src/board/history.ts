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
import { CHECK_STATUSES, type CheckStatus, type Flip } from '../checks/types.ts';
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

/**
 * One check's memory, kept small (100,000 of them): flat number arrays sized exactly (`concat`,
 * not `push`: a pushed array of two keeps room for nineteen), the counts array only once counted.
 */
class Track {
  /** Transitions, oldest first, flat: [at, status code, at, status code, …]. The first is where knowledge starts. */
  p: number[];
  /**
   * Counts by absolute bucket index (floor(t / bucket)), flat and in bucket order:
   * [bucket, count, bucket, count, …] (a Map per check cost 600 bytes at 100,000 checks); null until counted.
   */
  c: number[] | null = null;
  constructor(p: number[]) {
    this.p = p;
  }
}

/** Below this length a flat array grows by an exact copy; above, by push (amortised). */
const EXACT_BELOW = 64;
const code = (s: CheckStatus): number => CHECK_STATUSES.indexOf(s);
const statusOf = (c: number): CheckStatus => CHECK_STATUSES[c]!;
function unpack(p: readonly number[]): Array<[number, CheckStatus]> {
  const out: Array<[number, CheckStatus]> = [];
  for (let i = 0; i < p.length; i += 2) out.push([p[i]!, statusOf(p[i + 1]!)]);
  return out;
}
function pack(pts: ReadonlyArray<readonly [number, CheckStatus]>): number[] {
  const out: number[] = [];
  for (const [at, st] of pts) out.push(at, code(st));
  return out.slice();
}
/**
 * `a` with the pair `x, y` inserted at `i` (the same array when it is large enough to grow by itself).
 * Two numbers, not a rest parameter: a rest array holds boxed numbers, and concat would box the
 * whole result (16 bytes more a number).
 */
function insertAt(a: number[], i: number, x: number, y: number): number[] {
  if (a.length >= EXACT_BELOW) {
    a.splice(i, 0, x, y);
    return a;
  }
  return i >= a.length ? a.concat([x, y]) : a.slice(0, i).concat([x, y], a.slice(i));
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
    const rt = o.runtime;
    const track = (name: string, s: { since: number; status: CheckStatus }) => this.#tracks.set(name, new Track([Math.max(s.since, now - HISTORY_WINDOW_MS), code(s.status)]));
    // States, not snapshots: a full snapshot of each of 100,000 checks (deadlines, limits) was start-up garbage.
    if (typeof rt.state === 'function' && typeof rt.names === 'function') for (const name of rt.names()) track(name, rt.state(name)!);
    else for (const s of rt.snapshots()) track(s.name, s);
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
    const known = unpack(t.p);
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
    if (pts.length) t.p = pack([...pts, ...known.filter(([at]) => at >= firstKnown)]);
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
    t.p = pack([...pts, ...unpack(t.p).filter(([at]) => at > newest)]);
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
    const p = t.p;
    const lastAt = p[p.length - 2]!;
    if (f.at < lastAt) {
      // An out-of-order flip: insert it where it belongs.
      let i = 0;
      while (p[i]! <= f.at) i += 2;
      t.p = insertAt(p, i, f.at, code(f.to));
    } else if (p[p.length - 1] !== code(f.to)) t.p = insertAt(p, p.length, f.at, code(f.to));
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
    let c = t.c ?? [];
    // Mostly the newest bucket; an older one is found (or inserted) in order.
    let i = c.length - 2;
    while (i >= 0 && c[i]! > b) i -= 2;
    if (i >= 0 && c[i] === b) c[i + 1]! += n;
    else c = insertAt(c, i + 2, b, n);
    if (c.length > 2 * (BUCKETS + 5)) {
      const oldest = Math.floor((this.#o.clock.now() - HISTORY_WINDOW_MS) / RATE_BUCKET_MS);
      let drop = 0;
      while (drop < c.length && c[drop]! < oldest) drop += 2;
      c.splice(0, drop);
    }
    t.c = c;
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
    const p = t.p;
    if (snap && p[p.length - 1] !== code(snap.status)) {
      const lastAt = p[p.length - 2]!;
      if (snap.since <= lastAt && p.length === 2) t.p = [Math.max(snap.since, start), code(snap.status)];
      else t.p = insertAt(p, p.length, Math.max(snap.since, lastAt), code(snap.status));
    }
    this.#trim(t);
    const bands: Band[] = [];
    const q = t.p;
    if (q[0]! > start) bands.push({ from: start, to: q[0]!, status: 'none' });
    for (let i = 0; i < q.length; i += 2) bands.push({ from: Math.max(q[i]!, start), to: i + 2 < q.length ? q[i + 2]! : null, status: statusOf(q[i + 1]!) });
    const out: CheckHistory = { bands: bands.filter((b) => b.to === null || b.to > b.from) };
    if (this.#fed) {
      const b0 = Math.floor(start / RATE_BUCKET_MS) + 1;
      const bNow = Math.floor(now / RATE_BUCKET_MS);
      const limits = this.#o.runtime.spec(check)?.limits;
      const counts: number[] = [];
      const expected: Array<number | null> = [];
      const c = t.c ?? [];
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
    const p = t.p;
    let drop = 0;
    while (drop + 2 < p.length && p[drop + 2]! <= start) drop += 2;
    if (drop) t.p = p.slice(drop);
  }
}
