/** Shared test helpers for the alerting pipeline. */
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { pino, type Logger } from 'pino';
import { ManualClock } from '../../src/lib/clock.ts';
import { RetryableError, PermanentError } from '../../src/lib/errors.ts';
import type { Timers } from '../../src/alerts/manager.ts';
import type { Notification, Notifier, NotifierKind, Receipt } from '../../src/alerts/types.ts';
import { SqliteAlertStore } from '../../src/alerts/store-sqlite.ts';

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const start = Date.now();
  for (;;) {
    if (await cond()) return;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Let queued promise callbacks (and synchronous SQLite work wrapped in promises) run. */
export async function settle(rounds = 30): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/** Timers driven by a ManualClock: `advanceTo` fires due callbacks in time order. */
export class VirtualTimers implements Timers {
  #next = 1;
  #pending = new Map<number, { at: number; fn: () => void }>();
  constructor(readonly clock: ManualClock) {}
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#pending.set(id, { at: this.clock.now() + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.#pending.delete(h as number);
  }
  /** The earliest armed wake-up, if any. */
  nextAt(): number | undefined {
    let min: number | undefined;
    for (const t of this.#pending.values()) min = min === undefined ? t.at : Math.min(min, t.at);
    return min;
  }
  async advanceTo(t: number): Promise<void> {
    await settle();
    for (;;) {
      let best: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.#pending) if (e[1].at <= t && (!best || e[1].at < best[1].at)) best = e;
      if (!best) break;
      this.#pending.delete(best[0]);
      if (best[1].at > this.clock.now()) this.clock.set(best[1].at);
      best[1].fn();
      await settle();
    }
    if (t > this.clock.now()) this.clock.set(t);
    await settle();
  }
  advance(ms: number): Promise<void> {
    return this.advanceTo(this.clock.now() + ms);
  }
}

/** A Notifier that records what it was given (for manager logic in virtual time). */
export class RecordingNotifier implements Notifier {
  sent: { n: Notification; prior?: Receipt; at: number }[] = [];
  /** Scripted failures for the next sends. */
  failures: ('retry' | 'permanent')[] = [];
  constructor(
    readonly name: string,
    readonly kind: NotifierKind,
    private readonly clock: { now(): number },
  ) {}
  async send(n: Notification, prior?: Receipt): Promise<Receipt> {
    const f = this.failures.shift();
    if (f === 'retry') throw new RetryableError('TEST_RETRY', 'scripted retryable failure');
    if (f === 'permanent') throw new PermanentError('TEST_PERMANENT', 'scripted permanent failure');
    this.sent.push({ n, prior, at: this.clock.now() });
    return prior ?? { ref: `${this.name}-${this.sent.length}` };
  }
  actions(): string[] {
    return this.sent.map((s) => s.n.action);
  }
  /** Distinct dedup keys of the triggers sent (one per incident). */
  incidentKeys(): string[] {
    return [...new Set(this.sent.filter((s) => s.n.action === 'trigger').map((s) => s.n.dedupKey))];
  }
}

/** A pino logger whose JSON lines are collected in `lines`. */
export function captureLogger(level = 'debug'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  return { logger: pino({ level }, dest), lines };
}

export function memoryStore(): { db: Database.Database; store: SqliteAlertStore } {
  const db = new Database(':memory:');
  return { db, store: new SqliteAlertStore(db) };
}

export const FAST_RETRY = { minDelayMs: 20, maxDelayMs: 100, maxAttempts: 5, deadlineMs: 2_000 };
export const PD_KEY = 'R0UT1NGKEY0123456789ABCDEFGHIJKL'; // 32 characters
export const SLACK_TOKEN = 'xoxb-test-token-0000000000-abcdefghijkl';
