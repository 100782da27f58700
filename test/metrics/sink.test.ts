import { describe, expect, it } from 'vitest';
import { FanoutSink, NullSink, type MetricsSink } from '../../src/metrics/sink.ts';

describe('FanoutSink', () => {
  it('forwards every fact to every sink, even when one of them throws', () => {
    const seen: string[] = [];
    const recorder = (tag: string): MetricsSink =>
      new Proxy(new NullSink(), { get: (t, m) => (...args: unknown[]) => seen.push(`${tag}.${String(m)}:${args.length}`) }) as MetricsSink;
    const broken = new Proxy(new NullSink(), {
      get: () => () => {
        throw new Error('bug');
      },
    }) as MetricsSink;
    const errors: string[] = [];
    const fan = new FanoutSink([recorder('a'), broken, recorder('b')], (_e, m) => errors.push(m));
    const check = { name: 'c', stream: 's' };
    expect(() => {
      fan.checkState(check, 'ok', 1, 0);
      fan.events('s', 1, false, 0);
      fan.lag('s', 5, 0);
      fan.flip(check, 'ok', 'quiet', 0, 'r');
      fan.probe({ check: 'c', probeId: 'p', result: 'proven', costMinor: 1, currency: 'EUR', at: 0 });
      fan.notification({ notifier: 'n', kind: 'trigger', outcome: 'delivered', at: 0 });
      fan.incidents(1, 0);
      fan.health({ component: 'x', ok: true, at: 0 });
    }).not.toThrow();
    for (const tag of ['a', 'b'])
      for (const m of ['checkState', 'events', 'lag', 'flip', 'probe', 'notification', 'incidents', 'health'])
        expect(seen.some((s) => s.startsWith(`${tag}.${m}:`))).toBe(true);
    expect(errors).toHaveLength(8);
  });
});
