/**
 * A binary min-heap keyed by a number. Used by the scheduler to wake for the earliest deadline.
 * Kept as parallel arrays (keys unboxed in a double array, values, and an optional small integer
 * tag per item, e.g. a version for lazy deletion): 24 bytes an item instead of an object per item
 * and a boxed key (~96 bytes with the value object the runtime used to push, at 100,000 checks).
 */
export class MinHeap<T> {
  private keys: number[] = [];
  private values: T[] = [];
  private tags: number[] = [];

  get size(): number {
    return this.keys.length;
  }
  peek(): { key: number; value: T } | undefined {
    return this.keys.length ? { key: this.keys[0]!, value: this.values[0]! } : undefined;
  }
  /** The smallest key (Infinity when empty), without allocating. */
  peekKey(): number {
    return this.keys.length ? this.keys[0]! : Infinity;
  }
  /** The value with the smallest key, and its tag (`push`'s third argument). */
  peekValue(): T | undefined {
    return this.values[0];
  }
  peekTag(): number | undefined {
    return this.tags[0];
  }
  push(key: number, value: T, tag = 0): void {
    const k = this.keys;
    const v = this.values;
    const g = this.tags;
    let i = k.length;
    k.push(key);
    v.push(value);
    g.push(tag);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (k[p]! <= key) break;
      k[i] = k[p]!;
      v[i] = v[p]!;
      g[i] = g[p]!;
      i = p;
    }
    k[i] = key;
    v[i] = value;
    g[i] = tag;
  }
  pop(): { key: number; value: T } | undefined {
    const k = this.keys;
    if (k.length === 0) return undefined;
    const top = { key: k[0]!, value: this.values[0]! };
    this.drop();
    return top;
  }
  /** Remove the item with the smallest key (as `pop`, without returning it). */
  drop(): void {
    const k = this.keys;
    const v = this.values;
    const g = this.tags;
    if (k.length === 0) return;
    const lastK = k.pop()!;
    const lastV = v.pop()!;
    const lastG = g.pop()!;
    const n = k.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = -1;
      let mk = lastK;
      if (l < n && k[l]! < mk) (m = l), (mk = k[l]!);
      if (r < n && k[r]! < mk) (m = r), (mk = k[r]!);
      if (m < 0) break;
      k[i] = k[m]!;
      v[i] = v[m]!;
      g[i] = g[m]!;
      i = m;
    }
    k[i] = lastK;
    v[i] = lastV;
    g[i] = lastG;
  }
}
