/** Test helpers: a manual clock with timers that run when the clock is advanced, and log capture. */
import { Writable } from 'node:stream';
import { ManualClock } from '../../src/lib/clock.ts';
import { createLogger, type Logger } from '../../src/lib/logger.ts';
import type { Timers } from '../../src/sandbox/sandbox.ts';

export class VirtualTime implements Timers {
  readonly clock: ManualClock;
  #timers = new Map<number, { at: number; fn: () => void }>();
  #seq = 0;
  constructor(start: number) {
    this.clock = new ManualClock(start);
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.clock.now() + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.#timers.delete(h as number);
  }
  pending(): number {
    return this.#timers.size;
  }
  /** Move time forward, running due timers in time order (each sees the clock at its due time). */
  advance(ms: number): void {
    const end = this.clock.now() + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.#timers) if (e[1].at <= end && (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[0] < next[0]))) next = e;
      if (!next) break;
      this.#timers.delete(next[0]);
      this.clock.set(Math.max(this.clock.now(), next[1].at));
      next[1].fn();
    }
    this.clock.set(end);
  }
  /** sleep() for withRetry in virtual time. */
  sleep = (ms: number): Promise<void> => {
    this.clock.advance(ms);
    return Promise.resolve();
  };
}

/** A pino logger whose JSON lines are kept in `lines`. */
export function captureLogger(): { logger: Logger; lines: string[]; text: () => string } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const logger = createLogger({ level: 'debug', destination });
  return { logger, lines, text: () => lines.join('') };
}
