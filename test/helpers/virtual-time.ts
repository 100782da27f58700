/**
 * The test time kit. vitest's fake timers replace Date and the timer functions; every module of the
 * service takes its clock and timers from `systemClock` / `systemTimers`, which look the globals up
 * at each call, so one `advance(ms)` moves the runtime's deadlines, the alert loop, the learning
 * timers, the probes and the sandbox together: ten virtual minutes take milliseconds.
 *
 * setImmediate and process.nextTick stay real, so sockets (contract servers) and SQLite still work;
 * `advance` lets real I/O in between timer steps.
 */
import { vi } from 'vitest';

export interface VirtualTime {
  now(): number;
  /** Move virtual time forward by ms, running every timer due on the way (in steps of at most `step`). */
  advance(ms: number, step?: number): Promise<void>;
  /** Advance in steps until fn returns a value (not undefined), or fail after maxMs of virtual time. */
  until<T>(fn: () => Promise<T | undefined> | T | undefined, maxMs: number, step?: number): Promise<T>;
  restore(): void;
}

const realTick = () => new Promise<void>((r) => setImmediate(r));

export function useVirtualTime(start = Date.now()): VirtualTime {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'], now: start });
  const vt: VirtualTime = {
    now: () => Date.now(),
    async advance(ms, step = 1_000) {
      for (let left = ms; left > 0; left -= step) {
        await vi.advanceTimersByTimeAsync(Math.min(step, left));
        await realTick();
      }
    },
    async until(fn, maxMs, step = 250) {
      let last: unknown;
      for (let waited = 0; waited <= maxMs; waited += step) {
        try {
          const v = await fn();
          if (v !== undefined) return v;
        } catch (err) {
          last = err;
        }
        await vt.advance(step, step);
      }
      throw new Error(`not within ${maxMs} ms of virtual time${last ? `: ${String(last)}` : ''}`);
    },
    restore: () => vi.useRealTimers(),
  };
  return vt;
}
