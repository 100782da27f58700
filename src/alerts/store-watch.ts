/**
 * A deadman switch must page *harder* when its own store fails. Every replica watches the store it
 * depends on: a ping (the database answers) and the runtime's writes (a full disk answers reads but
 * not writes). When either has failed for `afterMs`, it pages straight through the fallback route's
 * notifiers — not through the outbox, which lives in the store that is gone — "quietwatch has lost
 * its store", with one dedup key per store so replicas paging together make one PagerDuty incident.
 * Undelivered pages are retried on every tick; when the store answers and writes again, the page is
 * resolved with the same key.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Clock, Timers } from '../lib/clock.ts';
import { systemTimers } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { Notification, Notifier } from './types.ts';

export interface StoreWatchOptions {
  /** Where the data lives, without secrets (`/var/lib/quietwatch/q.sqlite`, `db.example:5432/quietwatch`). */
  where: string;
  ping: () => Promise<void>;
  /** Since when writes fail, if they do (the runtime's commits). */
  writeFailure?: () => { since: number; message: string } | undefined;
  /** Try the failed writes again (the runtime's retryWrites); called on every tick while they fail. */
  retryWrites?: () => Promise<boolean>;
  /** The notifiers to page through (the escalation fallback route, else the default page route). */
  notifiers: Notifier[];
  clock: Clock;
  timers?: Timers;
  logger: Logger;
  everyMs?: number;
  afterMs?: number;
  /** A ping that takes longer than this counts as failed. */
  pingTimeoutMs?: number;
}

export interface StoreWatchHealth {
  ok: boolean;
  failingSince?: number;
  error?: string;
  /** The lost-store page: not sent, sent to some, or delivered to every notifier. */
  page: 'none' | 'pending' | 'delivered';
}

export class StoreWatch {
  private timer: unknown;
  private failingSince: number | undefined;
  private error: string | undefined;
  /** Notifiers that took the current trigger; undefined while no page is due. */
  private paged: Set<string> | undefined;
  private incidentKey: string;
  private busy = false;

  constructor(private readonly o: StoreWatchOptions) {
    this.incidentKey = `quietwatch/store-lost/${createHash('sha256').update(o.where).digest('hex').slice(0, 16)}`;
  }

  start(): void {
    this.timer = (this.o.timers ?? systemTimers).setInterval(() => void this.tick(), this.o.everyMs ?? 5_000);
  }

  stop(): void {
    if (this.timer !== undefined) (this.o.timers ?? systemTimers).clearInterval(this.timer);
    this.timer = undefined;
  }

  health(): StoreWatchHealth {
    const page = !this.paged ? 'none' : this.paged.size >= this.o.notifiers.length ? 'delivered' : 'pending';
    return { ok: this.failingSince === undefined, ...(this.failingSince !== undefined ? { failingSince: this.failingSince, error: this.error } : {}), page };
  }

  /** One look at the store (the timer calls it; tests may too). */
  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const problem = await this.problem();
      const now = this.o.clock.now();
      if (problem) {
        this.failingSince ??= problem.since ?? now;
        this.error = problem.message;
        if (now - this.failingSince >= (this.o.afterMs ?? 15_000)) await this.page('trigger', now);
      } else if (this.failingSince !== undefined) {
        const was = this.failingSince;
        this.failingSince = undefined;
        this.error = undefined;
        if (this.paged) {
          this.o.logger.warn({ store: this.o.where, down_ms: now - was }, 'the store answers again: resolving the lost-store page');
          this.paged = undefined;
          await this.page('resolve', now, was);
        }
      }
    } finally {
      this.busy = false;
    }
  }

  private async problem(): Promise<{ message: string; since?: number } | undefined> {
    let w = this.o.writeFailure?.();
    if (w && this.o.retryWrites && (await this.o.retryWrites())) w = undefined;
    if (w) return { message: `writes fail: ${w.message}`, since: w.since };
    const timeout = this.o.pingTimeoutMs ?? 5_000;
    let t: NodeJS.Timeout | undefined;
    try {
      await Promise.race([this.o.ping(), new Promise((_, reject) => (t = setTimeout(() => reject(new Error(`no answer within ${timeout} ms`)), timeout)))]);
      return undefined;
    } catch (err) {
      return { message: err instanceof Error ? err.message : String(err) };
    } finally {
      clearTimeout(t);
    }
  }

  private async page(action: 'trigger' | 'resolve', now: number, since = this.failingSince!): Promise<void> {
    if (action === 'trigger') this.paged ??= new Set();
    const n: Notification = {
      id: randomUUID(),
      dedupKey: this.incidentKey,
      action,
      severity: 'critical',
      check: 'quietwatch',
      labels: { component: 'store' },
      summary:
        action === 'trigger'
          ? `quietwatch has lost its store (${this.o.where}) since ${new Date(since).toISOString()}: ${this.error}. It cannot record events, flips or pages: checks may page late or not at all until the store is back`
          : `quietwatch has its store (${this.o.where}) back after ${Math.round((now - since) / 1000)} s`,
      createdAt: now,
      details: {
        reason: action === 'trigger' ? `store unavailable: ${this.error}` : 'store available again',
        state: action === 'trigger' ? 'down' : 'ok',
        extra: { store: this.o.where, failingSince: since },
      },
    };
    for (const notifier of this.o.notifiers) {
      if (action === 'trigger' && this.paged!.has(notifier.name)) continue;
      try {
        await notifier.send(n);
        if (action === 'trigger') this.paged!.add(notifier.name);
        this.o.logger.error({ notifier: notifier.name, store: this.o.where, action }, action === 'trigger' ? 'PAGE quietwatch has lost its store' : 'RESOLVED quietwatch has its store back');
      } catch (err) {
        // Retried at the next tick (a trigger), or lost (a resolve: PagerDuty resolves nothing by itself, so log loudly).
        this.o.logger.error({ notifier: notifier.name, err: (err as Error).message, action }, 'could not send the lost-store notification');
      }
    }
  }
}
