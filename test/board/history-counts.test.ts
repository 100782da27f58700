import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { BoardHistory, HISTORY_WINDOW_MS, RATE_BUCKET_MS } from '../../src/board/history.ts';
import { ManualClock } from '../../src/lib/clock.ts';

const T = Date.UTC(2026, 11, 2, 12, 0, 0);
const runtime = () =>
  Object.assign(new EventEmitter(), {
    snapshots: () => [{ name: 'c', status: 'ok', since: T }],
    snapshot: () => ({ name: 'c', status: 'ok', since: T }),
    names: () => ['c'],
    spec: () => ({ name: 'c', stream: 'c', match: {} }),
  });

describe('BoardHistory counts (kept flat per check, in bucket order)', () => {
  it('adds counts in and out of order, and forgets buckets older than the window', () => {
    const clock = new ManualClock(T);
    const h = new BoardHistory({ runtime: runtime() as never, clock });
    const m = (k: number) => T - k * RATE_BUCKET_MS + 1;
    h.recordCount('c', m(3), 1);
    h.recordCount('c', m(1), 2);
    h.recordCount('c', m(2), 4); // between two known buckets
    h.recordCount('c', m(5), 8); // before all of them
    h.recordCount('c', m(1), 16); // the newest again
    const counts = h.history('c')!.rate!.counts;
    expect(counts).toHaveLength(360);
    expect(counts.slice(-6)).toEqual([8, 0, 1, 4, 18, 0]);
    // Seven hours later, one count a minute: only the last six hours are kept and shown.
    for (let k = 0; k < 420; k++) {
      clock.set(T + k * RATE_BUCKET_MS);
      h.recordCount('c', T + k * RATE_BUCKET_MS, 1);
    }
    const later = h.history('c')!.rate!.counts;
    expect(later).toHaveLength(360);
    expect(later.every((n) => n === 1)).toBe(true);
    expect(HISTORY_WINDOW_MS / RATE_BUCKET_MS).toBe(360);
  });
});
