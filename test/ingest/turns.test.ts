import { stat } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { CheckRuntime } from '../../src/checks/runtime.ts';
import { Ingest, TURN_EVENTS, type IngestEvent } from '../../src/ingest/index.ts';
import type { MetricsSink } from '../../src/metrics/sink.ts';

/** A runtime whose ingest is a 30 ms synchronous block (a SQLite commit and its alerting). */
function setup(order: string[]) {
  const runtime = {
    ingest: async (events: readonly IngestEvent[]) => {
      order.push(`batch:${events[0]!.stream}`);
      const until = performance.now() + 30;
      while (performance.now() < until) {
        /* busy */
      }
      return events.length;
    },
  } as unknown as CheckRuntime;
  const sink = { lag: () => undefined, events: () => undefined } as unknown as MetricsSink;
  return new Ingest({ runtime, sink, clock: { now: () => Date.now() }, isSynthetic: () => false });
}

const batch = (stream: string, n: number): IngestEvent[] => Array.from({ length: n }, () => ({ stream, time: 0, arrivedAt: 0, attributes: {} }));

describe('large ingest batches take turns of the event loop', () => {
  it('lets I/O in between large batches (a /healthz waits for one batch, not for all of them)', async () => {
    const order: string[] = [];
    const ingest = setup(order);
    const io = stat('.').then(() => void order.push('io'));
    const all = Promise.all(['a', 'b', 'c', 'd'].map((s) => ingest.accept(batch(s, TURN_EVENTS))));
    await Promise.all([io, all]);
    expect(order.filter((o) => o.startsWith('batch'))).toEqual(['batch:a', 'batch:b', 'batch:c', 'batch:d']);
    // Without turns all four ran back to back (120 ms) before the I/O callback.
    expect(order.indexOf('io')).toBeGreaterThan(0);
    expect(order.indexOf('io')).toBeLessThan(order.length - 1);
    await expect(all).resolves.toEqual([TURN_EVENTS, TURN_EVENTS, TURN_EVENTS, TURN_EVENTS]);
  });

  it('does not hold small batches back', async () => {
    const order: string[] = [];
    const ingest = setup(order);
    const big = ingest.accept(batch('big', TURN_EVENTS));
    const big2 = ingest.accept(batch('big2', TURN_EVENTS));
    const small = ingest.accept(batch('small', TURN_EVENTS - 1));
    // The small one ran at once, before the second large batch's turn came.
    expect(order).toEqual(['batch:big', 'batch:small']);
    await Promise.all([big, big2, small]);
    expect(order).toEqual(['batch:big', 'batch:small', 'batch:big2']);
  });
});
