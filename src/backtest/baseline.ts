/**
 * The fixed-limit baseline of a backtest: the smallest fixed limit that a peer tuned in hindsight
 * on this very trace would use (no natural silence longer than it, or at most `allowed` of them),
 * found by streaming the replayed arrivals once — O(allowed) memory, whatever the trace's size.
 * A natural silence is a gap between consecutive arrivals (or from the replay's start, or to its end) that does not
 * touch a known outage, and that is not a gap in the trace's data.
 */
import { cursor, traceSpan, type Outage, type Trace } from './trace.ts';

/** The `k` largest values seen, kept in a small min-heap. */
export class TopK {
  private readonly h: number[] = [];
  constructor(private readonly k: number) {}
  push(v: number): void {
    const h = this.h;
    if (this.k <= 0) return;
    if (h.length < this.k) {
      h.push(v);
      for (let i = h.length - 1; i > 0; ) {
        const p = (i - 1) >> 1;
        if (h[p]! <= h[i]!) break;
        [h[p], h[i]] = [h[i]!, h[p]!];
        i = p;
      }
      return;
    }
    if (v <= h[0]!) return;
    h[0] = v;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l]! < h[m]!) m = l;
      if (r < h.length && h[r]! < h[m]!) m = r;
      if (m === i) break;
      [h[m], h[i]] = [h[i]!, h[m]!];
      i = m;
    }
  }
  /** Largest first. */
  values(): number[] {
    return [...this.h].sort((a, b) => b - a);
  }
}


export interface NaturalGaps {
  /** The largest natural silences, largest first (as many as asked for). */
  largest: number[];
  arrivals: number;
}

/**
 * Stream the arrivals of `trace` (spread with `seed`) and keep the `keep` largest natural silences.
 * `map` turns a silence [a, b) into the length a detector sees (the Prometheus grid, say).
 */
export function naturalGaps(trace: Trace, seed: number, outages: readonly Outage[], keep: number, map: (a: number, b: number) => number = (a, b) => b - a): NaturalGaps {
  const { from, to } = traceSpan(trace);
  const skip = [...outages, ...(trace.kind === 'counts' ? (trace.gaps ?? []) : [])].sort((a, b) => a.end - b.end);
  let si = 0;
  /** [a, b] touches an outage or a data gap (arrivals come in order: intervals ended before a are passed for good). */
  const touches = (a: number, b: number): boolean => {
    while (si < skip.length && skip[si]!.end <= a) si++;
    for (let i = si; i < skip.length; i++) if (a < skip[i]!.end && b >= skip[i]!.start) return true;
    return false;
  };
  const top = new TopK(Math.max(1, keep));
  const cur = cursor(trace, seed);
  let prev = from;
  let n = 0;
  for (let t = cur.next(); !Number.isNaN(t); t = cur.next()) {
    n++;
    if (!touches(prev, t)) top.push(map(prev, t));
    prev = t;
  }
  // The replay runs to the trace's end: the silence after the last arrival counts too.
  if (to > prev && !touches(prev, to)) top.push(map(prev, to));
  return { largest: top.values(), arrivals: n };
}

/** The smallest limit with at most `allowed` natural silences longer than it. */
export function tuneLimit(largest: readonly number[], allowed: number): number {
  return (largest[Math.floor(allowed)] ?? 0) + 1;
}

/** The hindsight fixed page limit: no natural silence of the trace reaches it. */
export function hindsightFixedLimit(trace: Trace, seed: number, outages: readonly Outage[]): number {
  return tuneLimit(naturalGaps(trace, seed, outages, 1).largest, 0);
}
