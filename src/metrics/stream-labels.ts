/**
 * Bounds on what metrics keep per stream name. Stream names come from clients: a client sending
 * a new name with every event must not grow a label set (and a scrape) without bound. Streams of
 * configured checks always keep their own label (the sinks learn them from `checkState`/`flip`);
 * up to `maxOther` other streams get one each, first come first served; every stream after that
 * is counted under one explicit overflow label, `_other`.
 */

export const OVERFLOW_STREAM = '_other';
export const DEFAULT_MAX_OTHER_STREAMS = 200;

export class StreamLabels {
  readonly #known = new Set<string>();
  readonly #others = new Set<string>();
  readonly #max: number;

  constructor(maxOther = DEFAULT_MAX_OTHER_STREAMS) {
    this.#max = maxOther;
  }

  /** A stream some check watches: always its own label (bounded by the number of checks). */
  know(stream: string): void {
    this.#known.add(stream);
  }

  /** The label to count `stream` under. */
  label(stream: string): string {
    if (this.#known.has(stream) || this.#others.has(stream)) return stream;
    if (this.#others.size < this.#max) {
      this.#others.add(stream);
      return stream;
    }
    return OVERFLOW_STREAM;
  }

  /** Distinct labels in use (known + others; the overflow label not counted). */
  get size(): number {
    return this.#known.size + this.#others.size;
  }
}

/** Pipeline lag beyond this (either way) is not a lag but a clock or unit problem: counted apart. */
export const MAX_LAG_MS = 86_400_000;

/** 'future' (event time after arrival), 'past' (older than MAX_LAG_MS), or undefined when in range. */
export function lagOutOfRange(lagMs: number): 'future' | 'past' | undefined {
  if (!Number.isFinite(lagMs)) return 'past';
  // A few ms of negative lag is clock jitter between the sender and us: clamped to 0, not counted apart.
  if (lagMs < -1_000) return 'future';
  if (lagMs > MAX_LAG_MS) return 'past';
  return undefined;
}
