/**
 * Traces for backtests: events with timestamps, or counts per bucket (../shared/traces/ format),
 * replayed as a stream of arrival times. Count buckets are spread as a Poisson process (n uniform
 * arrivals given the count) with a seeded PRNG, so a run repeats exactly.
 */
import { readFileSync } from 'node:fs';

export type Trace =
  | { kind: 'events'; times: Float64Array }
  | { kind: 'counts'; bucketMs: number; starts: Float64Array; counts: Float64Array };

export type Outage = { start: number; end: number };

/** A cursor over arrival times, in order. `next()` returns NaN at the end. */
export interface ArrivalCursor {
  next(): number;
}

/** mulberry32: small, fast, good enough for spreading arrivals; deterministic per seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0 || 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class EventsCursor implements ArrivalCursor {
  private i = 0;
  constructor(private readonly times: Float64Array) {}
  next(): number {
    return this.i < this.times.length ? this.times[this.i++]! : NaN;
  }
}

class CountsCursor implements ArrivalCursor {
  private b = 0;
  private buf = new Float64Array(1024);
  private n = 0;
  private i = 0;
  private readonly rnd: () => number;
  constructor(
    private readonly t: Extract<Trace, { kind: 'counts' }>,
    seed: number,
  ) {
    this.rnd = prng(seed);
  }
  next(): number {
    while (this.i >= this.n) {
      if (this.b >= this.t.starts.length) return NaN;
      this.fill(this.t.starts[this.b]!, Math.max(0, Math.round(this.t.counts[this.b]!)));
      this.b++;
    }
    return this.buf[this.i++]!;
  }
  /** n sorted uniform arrivals in [start, start + bucketMs): normalised sums of n+1 exponentials. */
  private fill(start: number, n: number): void {
    if (this.buf.length < n + 1) this.buf = new Float64Array(Math.max(n + 1, this.buf.length * 2));
    const buf = this.buf;
    let sum = 0;
    for (let k = 0; k <= n; k++) {
      sum += -Math.log(1 - this.rnd());
      buf[k] = sum;
    }
    const scale = this.t.bucketMs / sum;
    for (let k = 0; k < n; k++) buf[k] = start + Math.floor(buf[k]! * scale);
    this.n = n;
    this.i = 0;
  }
}

export function cursor(trace: Trace, seed: number): ArrivalCursor {
  return trace.kind === 'events' ? new EventsCursor(trace.times) : new CountsCursor(trace, seed);
}

/** First and last instant a trace covers. */
export function traceSpan(trace: Trace): { from: number; to: number } {
  if (trace.kind === 'events') {
    const n = trace.times.length;
    return n ? { from: trace.times[0]!, to: trace.times[n - 1]! } : { from: 0, to: 0 };
  }
  const n = trace.starts.length;
  return n ? { from: trace.starts[0]!, to: trace.starts[n - 1]! + trace.bucketMs } : { from: 0, to: 0 };
}

/** Parse a timestamp: epoch ms, or RFC 3339 / ISO 8601 (no zone = UTC, the source's local time). */
export function parseTime(s: string): number | undefined {
  const v = s.trim().replace(/^"|"$/g, '');
  if (!v) return undefined;
  if (/^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  let iso = v.replace(' ', 'T');
  if (!/(Z|[+-]\d\d:?\d\d)$/i.test(iso)) iso += 'Z';
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : undefined;
}

function splitCsv(line: string): string[] {
  return line.split(',').map((c) => c.trim().replace(/^"|"$/g, ''));
}

/**
 * Parse trace text. Formats:
 * - one timestamp per line (events);
 * - CSV with a header: a timestamp column (timestamp/time/date), and optionally a count column
 *   (value/count): with one it is counts per bucket (bucket = the most common step), else events.
 */
export function parseTrace(text: string): Trace {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) return { kind: 'events', times: new Float64Array(0) };
  const first = splitCsv(lines[0]!);
  const header = parseTime(first[0]!) === undefined;
  if (!header) {
    const times = lines.map((l, i) => {
      const t = parseTime(splitCsv(l)[0]!);
      if (t === undefined) throw new Error(`trace line ${i + 1}: not a timestamp: ${l}`);
      return t;
    });
    return { kind: 'events', times: Float64Array.from(times).sort() };
  }
  const cols = first.map((c) => c.toLowerCase());
  let ti = cols.findIndex((c) => /timestamp|^time$|date|^at$/.test(c));
  if (ti < 0) ti = 0;
  const ci = cols.findIndex((c, i) => i !== ti && /^(value|count|events|n)$/.test(c));
  const rows = lines.slice(1).map((l) => splitCsv(l));
  const times = rows.map((r, i) => {
    const t = parseTime(r[ti] ?? '');
    if (t === undefined) throw new Error(`trace line ${i + 2}: not a timestamp: ${r[ti]}`);
    return t;
  });
  if (ci < 0) return { kind: 'events', times: Float64Array.from(times).sort() };
  const order = times.map((_, i) => i).sort((a, b) => times[a]! - times[b]!);
  const starts = Float64Array.from(order.map((i) => times[i]!));
  const counts = Float64Array.from(order.map((i) => Number(rows[i]![ci])));
  const steps = new Map<number, number>();
  for (let i = 1; i < starts.length; i++) {
    const d = starts[i]! - starts[i - 1]!;
    steps.set(d, (steps.get(d) ?? 0) + 1);
  }
  let bucketMs = 0;
  let best = -1;
  for (const [d, n] of steps) if (n > best) [bucketMs, best] = [d, n];
  if (!(bucketMs > 0)) throw new Error('counts trace: cannot infer the bucket size');
  return { kind: 'counts', bucketMs, starts, counts };
}

export function loadTrace(path: string): Trace {
  return parseTrace(readFileSync(path, 'utf8'));
}

/** Outages: JSON [[start, end], …] or [{start, end}, …], or CSV lines `start,end` (header optional). */
export function parseOutages(text: string): Outage[] {
  const s = text.trim();
  if (!s) return [];
  const out: Outage[] = [];
  const add = (a: unknown, b: unknown) => {
    const start = parseTime(String(a));
    const end = parseTime(String(b));
    if (start === undefined || end === undefined || end < start) throw new Error(`bad outage: ${String(a)}, ${String(b)}`);
    out.push({ start, end });
  };
  if (s.startsWith('[')) {
    for (const o of JSON.parse(s) as unknown[]) {
      if (Array.isArray(o)) add(o[0], o[1]);
      else if (o && typeof o === 'object') add((o as { start: unknown }).start, (o as { end: unknown }).end);
    }
  } else {
    for (const line of s.split(/\r?\n/)) {
      const c = splitCsv(line);
      if (c.length < 2 || parseTime(c[0]!) === undefined) continue; // header or blank
      add(c[0], c[1]);
    }
  }
  return out.sort((a, b) => a.start - b.start);
}

export function loadOutages(path: string): Outage[] {
  return parseOutages(readFileSync(path, 'utf8'));
}
