/**
 * Traces for backtests: events with timestamps, or counts per bucket (../shared/traces/ format),
 * replayed as a stream of arrival times. Count buckets are spread as a Poisson process (n uniform
 * arrivals given the count) with a seeded PRNG, so a run repeats exactly.
 */
import { readFileSync } from 'node:fs';

export type Trace =
  | { kind: 'events'; times: Float64Array; info?: TraceInfo }
  | { kind: 'counts'; bucketMs: number; starts: Float64Array; counts: Float64Array; info?: TraceInfo; gaps?: Outage[] };

/** What was read, for the one-line input summary: nothing in the input passes without a word. */
export interface TraceInfo {
  rows: number;
  /** The count column used (counts traces). */
  countColumn?: string;
  /** Rows whose timestamp repeats an earlier row's (counts: summed into one bucket). */
  duplicates: number;
  /** Missing buckets (counts traces): runs of them are `gaps`, replayed as no data, not as silence. */
  missingBuckets: number;
  /** Sum of the counts (counts) or number of events. */
  events: number;
}

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

export interface ParseTraceOptions {
  /** The column holding each bucket's count (default: value, count, events or n). */
  countColumn?: string;
}

/**
 * Parse trace text. Formats:
 * - one timestamp per line (events);
 * - CSV with a header: a timestamp column (timestamp/time/date/at), and optionally a count column
 *   (value/count/events/n, or `countColumn`): with one it is counts per bucket (bucket = the most
 *   common step), else events. A header with a numeric column but no count column is an error (it
 *   would be read as one event per row): name it with `countColumn`.
 * Honesty: a count that is not a number is an error naming its line; repeated timestamps are
 * summed and missing buckets become `gaps`, both counted in `info`.
 */
export function parseTrace(text: string, opts: ParseTraceOptions = {}): Trace {
  const lines = text.split(/\r?\n/);
  const firstIdx = lines.findIndex((l) => l.trim() !== '');
  if (firstIdx < 0) return { kind: 'events', times: new Float64Array(0), info: { rows: 0, duplicates: 0, missingBuckets: 0, events: 0 } };
  const first = splitCsv(lines[firstIdx]!);
  const header = parseTime(first[0]!) === undefined;
  if (!header) {
    if (opts.countColumn !== undefined) throw new Error(`trace: --count-column ${opts.countColumn} given, but the trace has no header line`);
    const times: number[] = [];
    lines.forEach((l, i) => {
      if (l.trim() === '') return;
      const t = parseTime(splitCsv(l)[0]!);
      if (t === undefined) throw new Error(`trace line ${i + 1}: not a timestamp: ${l}`);
      times.push(t);
    });
    const sorted = Float64Array.from(times).sort();
    return { kind: 'events', times: sorted, info: { rows: times.length, duplicates: countRepeats(sorted), missingBuckets: 0, events: times.length } };
  }
  const cols = first.map((c) => c.toLowerCase());
  let ti = cols.findIndex((c) => /timestamp|^time$|date|^at$/.test(c));
  if (ti < 0) ti = 0;
  let ci: number;
  if (opts.countColumn !== undefined) {
    ci = cols.indexOf(opts.countColumn.toLowerCase());
    if (ci < 0) throw new Error(`trace: no column named ${opts.countColumn} (columns: ${first.join(', ')})`);
  } else ci = cols.findIndex((c, i) => i !== ti && /^(value|count|events|n)$/.test(c));
  const rows: Array<{ line: number; cells: string[] }> = [];
  for (let i = firstIdx + 1; i < lines.length; i++) if (lines[i]!.trim() !== '') rows.push({ line: i + 1, cells: splitCsv(lines[i]!) });
  const times = rows.map((r) => {
    const t = parseTime(r.cells[ti] ?? '');
    if (t === undefined) throw new Error(`trace line ${r.line}: not a timestamp: ${r.cells[ti] ?? ''}`);
    return t;
  });
  if (ci < 0) {
    // No count column: events (one row each), unless the rows sit on a regular grid and another
    // column holds numbers: that is a counts export whose column we do not know (say so, not guess).
    const numeric = cols.findIndex((_, i) => i !== ti && rows.length > 0 && rows.slice(0, 20).every((r) => isNumber(r.cells[i])));
    if (numeric >= 0 && onGrid(times)) {
      throw new Error(
        `trace: column ${first[numeric]} holds numbers but is not a known count column (value, count, events, n): ` +
          `pass --count-column ${first[numeric]} to read counts, or drop the column to read one event per row`,
      );
    }
    const sorted = Float64Array.from(times).sort();
    return { kind: 'events', times: sorted, info: { rows: rows.length, duplicates: countRepeats(sorted), missingBuckets: 0, events: rows.length } };
  }
  const values = rows.map((r) => {
    const cell = r.cells[ci] ?? '';
    if (!isNumber(cell)) throw new Error(`trace line ${r.line}: count ${JSON.stringify(cell)} in column ${first[ci]} is not a number`);
    const v = Number(cell);
    if (v < 0) throw new Error(`trace line ${r.line}: count ${cell} in column ${first[ci]} is negative`);
    return v;
  });
  const order = times.map((_, i) => i).sort((a, b) => times[a]! - times[b]!);
  // Repeated timestamps are one bucket: their counts are summed.
  const st: number[] = [];
  const cn: number[] = [];
  let duplicates = 0;
  for (const i of order) {
    if (st.length && st[st.length - 1] === times[i]) {
      cn[cn.length - 1]! += values[i]!;
      duplicates++;
    } else {
      st.push(times[i]!);
      cn.push(values[i]!);
    }
  }
  const starts = Float64Array.from(st);
  const counts = Float64Array.from(cn);
  const steps = new Map<number, number>();
  for (let i = 1; i < starts.length; i++) {
    const d = starts[i]! - starts[i - 1]!;
    steps.set(d, (steps.get(d) ?? 0) + 1);
  }
  let bucketMs = 0;
  let best = -1;
  for (const [d, n] of steps) if (n > best || (n === best && d < bucketMs)) [bucketMs, best] = [d, n];
  if (!(bucketMs > 0)) throw new Error('counts trace: cannot infer the bucket size');
  // Missing buckets: a step longer than one bucket leaves no data (not zero traffic) behind it.
  const gaps: Outage[] = [];
  let missingBuckets = 0;
  for (let i = 1; i < starts.length; i++) {
    const gapStart = starts[i - 1]! + bucketMs;
    if (starts[i]! > gapStart) {
      gaps.push({ start: gapStart, end: starts[i]! });
      missingBuckets += Math.round((starts[i]! - gapStart) / bucketMs);
    }
  }
  let events = 0;
  for (const c of counts) events += c;
  return { kind: 'counts', bucketMs, starts, counts, gaps, info: { rows: rows.length, countColumn: first[ci]!, duplicates, missingBuckets, events } };
}

/** At least 10 rows, distinct, and 90% of the steps between them the same: buckets, not events. */
function onGrid(times: number[]): boolean {
  if (times.length < 10) return false;
  const sorted = [...times].sort((a, b) => a - b);
  const steps = new Map<number, number>();
  for (let i = 1; i < sorted.length; i++) steps.set(sorted[i]! - sorted[i - 1]!, (steps.get(sorted[i]! - sorted[i - 1]!) ?? 0) + 1);
  const [step, n] = [...steps].reduce((a, b) => (b[1] > a[1] ? b : a));
  return step > 0 && n >= 0.9 * (sorted.length - 1);
}

function isNumber(cell: string | undefined): boolean {
  return cell !== undefined && /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/.test(cell);
}

function countRepeats(sorted: Float64Array): number {
  let n = 0;
  for (let i = 1; i < sorted.length; i++) if (sorted[i] === sorted[i - 1]) n++;
  return n;
}

export function loadTrace(path: string, opts: ParseTraceOptions = {}): Trace {
  return parseTrace(readFileSync(path, 'utf8'), opts);
}

/** The one-line input summary: what was read, what was inferred, and what looked wrong. */
export function traceSummary(trace: Trace, fmt: (ms: number) => string): string {
  const info = trace.info;
  const span = traceSpan(trace);
  const days = (span.to - span.from) / 86_400_000;
  const parts: string[] = [];
  if (trace.kind === 'counts') {
    parts.push(`counts per ${fmt(trace.bucketMs)} (inferred) from column ${info?.countColumn ?? '?'}`);
  } else parts.push('one event per row');
  parts.push(`${(info?.rows ?? (trace.kind === 'events' ? trace.times.length : trace.starts.length)).toLocaleString('en')} rows`);
  parts.push(`${Math.round(info?.events ?? 0).toLocaleString('en')} events`);
  parts.push(`${days.toFixed(1)} days`);
  parts.push(`${info?.duplicates ?? 0} duplicate timestamps${info?.duplicates ? (trace.kind === 'counts' ? ' (summed)' : '') : ''}`);
  if (trace.kind === 'counts') {
    const g = trace.gaps ?? [];
    parts.push(`${info?.missingBuckets ?? 0} missing buckets in ${g.length} gaps${g.length ? ` (not judged: ${g.slice(0, 3).map((x) => new Date(x.start).toISOString().replace(':00.000Z', 'Z')).join(', ')}${g.length > 3 ? ', …' : ''})` : ''}`);
  }
  parts.push('0 non-numeric cells');
  return `input: ${parts.join(', ')}`;
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
