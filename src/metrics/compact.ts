/**
 * Per-check and per-stream Prometheus series kept compactly: one small integer per name, values in
 * typed arrays, label objects made only when scraped. prom-client keeps every series as an object
 * (labels, value, a hash key in a dictionary) and hashes the labels on every set; with 100,000 checks
 * that was the largest cost of a storm (600,000 state sets every report) and most of the memory a
 * check takes. These metrics register with a prom-client Registry like any other (`get`,
 * `getForPromString`, `reset`), so `/metrics` prints exactly the same lines.
 */
import type { Registry } from 'prom-client';

type LabelValues = Record<string, string | number>;
interface Value {
  labels: LabelValues;
  value: number;
  metricName?: string;
  sharedLabels?: LabelValues;
}
interface MetricData {
  name: string;
  help: string;
  type: 'gauge' | 'counter' | 'histogram';
  values: Value[];
  aggregator: 'sum';
}

/** Names to small integers (checks, streams), in order of first use. */
export class Interner {
  readonly names: string[] = [];
  readonly #index = new Map<string, number>();

  id(name: string): number {
    let i = this.#index.get(name);
    if (i === undefined) {
      i = this.names.length;
      this.names.push(name);
      this.#index.set(name, i);
    }
    return i;
  }

  get(name: string): number | undefined {
    return this.#index.get(name);
  }

  get size(): number {
    return this.names.length;
  }
}

/** A Float64Array column that grows (doubling) as ids are added; unset cells are `fill`. */
export class Column {
  data: Float64Array;
  constructor(
    private readonly fill: number,
    capacity = 64,
  ) {
    this.data = new Float64Array(capacity).fill(fill);
  }
  ensure(i: number): void {
    if (i < this.data.length) return;
    let n = this.data.length;
    while (n <= i) n *= 2;
    const next = new Float64Array(n).fill(this.fill);
    next.set(this.data);
    this.data = next;
  }
  set(i: number, v: number): void {
    this.ensure(i);
    this.data[i] = v;
  }
  add(i: number, v: number): void {
    this.ensure(i);
    this.data[i] = this.data[i]! + v;
  }
  get(i: number): number {
    return i < this.data.length ? this.data[i]! : this.fill;
  }
}

abstract class CompactMetric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricData['type'],
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }
  protected abstract values(): Value[];
  abstract reset(): void;
  async getForPromString(): Promise<MetricData> {
    return { name: this.name, help: this.help, type: this.type, values: this.values(), aggregator: 'sum' };
  }
  /** As prom-client's `get()` (the JSON form): shared labels folded into each value's labels. */
  async get(): Promise<MetricData> {
    const d = await this.getForPromString();
    d.values = d.values.map(({ labels, sharedLabels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } }));
    return d;
  }
}

/** One gauge value per id (a check), absent while NaN: `name{<label>="<id's name>"} value`. */
export class IdGauge extends CompactMetric {
  readonly #col = new Column(NaN);
  constructor(
    name: string,
    help: string,
    private readonly label: string,
    private readonly ids: Interner,
    registry: Registry,
  ) {
    super(name, help, 'gauge', registry);
  }
  set(id: number, v: number): void {
    this.#col.set(id, v);
  }
  remove(id: number): void {
    if (id < this.#col.data.length) this.#col.data[id] = NaN;
  }
  protected values(): Value[] {
    const out: Value[] = [];
    const d = this.#col.data;
    const n = Math.min(d.length, this.ids.size);
    for (let i = 0; i < n; i++) if (!Number.isNaN(d[i]!)) out.push({ labels: { [this.label]: this.ids.names[i]! }, value: d[i]! });
    return out;
  }
  reset(): void {
    this.#col.data.fill(NaN);
  }
}

/** Which of a fixed set of states each id is in: `name{check="a",state="ok"} 1`, 0 for the others. */
export class StateGauge extends CompactMetric {
  #codes = new Uint8Array(64).fill(255);
  constructor(
    name: string,
    help: string,
    private readonly states: readonly string[],
    private readonly ids: Interner,
    registry: Registry,
  ) {
    super(name, help, 'gauge', registry);
  }
  set(id: number, state: string): void {
    if (id >= this.#codes.length) {
      let n = this.#codes.length;
      while (n <= id) n *= 2;
      const next = new Uint8Array(n).fill(255);
      next.set(this.#codes);
      this.#codes = next;
    }
    const code = this.states.indexOf(state);
    this.#codes[id] = code < 0 ? 255 : code;
  }
  protected values(): Value[] {
    const out: Value[] = [];
    const n = Math.min(this.#codes.length, this.ids.size);
    for (let i = 0; i < n; i++) {
      const c = this.#codes[i]!;
      if (c === 255) continue;
      const check = this.ids.names[i]!;
      for (let s = 0; s < this.states.length; s++) out.push({ labels: { check, state: this.states[s]! }, value: s === c ? 1 : 0 });
    }
    return out;
  }
  reset(): void {
    this.#codes.fill(255);
  }
}

/**
 * A counter per id and per one of a few label combinations (a flip's from/to, an event's
 * synthetic flag): one column per combination, so a series costs 8 bytes. Zero is not exported
 * (as with prom-client, a series appears once incremented).
 */
export class IdCounter extends CompactMetric {
  readonly #cols = new Map<string, { labels: LabelValues; col: Column }>();
  constructor(
    name: string,
    help: string,
    private readonly label: string,
    private readonly ids: Interner,
    registry: Registry,
  ) {
    super(name, help, 'counter', registry);
  }
  /** `key` names the combination of the other labels (`labels` are used the first time). */
  inc(id: number, key: string, labels: LabelValues, by = 1): void {
    let c = this.#cols.get(key);
    if (!c) this.#cols.set(key, (c = { labels, col: new Column(0) }));
    c.col.add(id, by);
  }
  protected values(): Value[] {
    const out: Value[] = [];
    const n = this.ids.size;
    // Grouped by id, then by combination in order of first use (as prom-client's insertion order for one id).
    const cols = [...this.#cols.values()];
    for (let i = 0; i < n; i++) {
      for (const { labels, col } of cols) {
        const v = col.get(i);
        if (v !== 0) out.push({ labels: { [this.label]: this.ids.names[i]!, ...labels }, value: v });
      }
    }
    return out;
  }
  reset(): void {
    this.#cols.clear();
  }
}

/** A histogram per id (a stream), buckets in one Float64Array row each: `(buckets + 2) * 8` bytes a series. */
export class IdHistogram extends CompactMetric {
  readonly #width: number;
  #rows = new Float64Array(0);
  constructor(
    name: string,
    help: string,
    private readonly label: string,
    private readonly ids: Interner,
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    super(name, help, 'histogram', registry);
    // Per row: one count per bucket, then +Inf-only count, sum, count.
    this.#width = buckets.length + 3;
  }
  observe(id: number, v: number): void {
    const w = this.#width;
    if ((id + 1) * w > this.#rows.length) {
      let n = Math.max(64, this.#rows.length / w);
      while (n <= id) n *= 2;
      const next = new Float64Array(n * w);
      next.set(this.#rows);
      this.#rows = next;
    }
    const base = id * w;
    const b = this.buckets.findIndex((ub) => v <= ub);
    this.#rows[base + (b < 0 ? this.buckets.length : b)]! += 1;
    this.#rows[base + w - 2]! += v;
    this.#rows[base + w - 1]! += 1;
  }
  protected values(): Value[] {
    const out: Value[] = [];
    const w = this.#width;
    const n = Math.min(this.#rows.length / w, this.ids.size);
    const bucket = `${this.name}_bucket`;
    for (let i = 0; i < n; i++) {
      const base = i * w;
      const count = this.#rows[base + w - 1]!;
      if (count === 0) continue;
      const shared = { [this.label]: this.ids.names[i]! };
      let acc = 0;
      for (let b = 0; b < this.buckets.length; b++) {
        acc += this.#rows[base + b]!;
        out.push({ labels: { le: this.buckets[b]! }, value: acc, metricName: bucket, sharedLabels: shared });
      }
      out.push({ labels: { le: '+Inf' }, value: count, metricName: bucket, sharedLabels: shared });
      out.push({ labels: {}, value: this.#rows[base + w - 2]!, metricName: `${this.name}_sum`, sharedLabels: shared });
      out.push({ labels: {}, value: count, metricName: `${this.name}_count`, sharedLabels: shared });
    }
    return out;
  }
  reset(): void {
    this.#rows = new Float64Array(0);
  }
}
