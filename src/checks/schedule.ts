/**
 * Checks shaped like a schedule: "the settlement file lands between 05:30 and 06:30 on weekdays, UK
 * time". As in Healthchecks' cron checks, an event is expected once per cron slot: after an event the
 * check is late (quiet; a probe may fire, e.g. "is today's file there?") at the next slot, and down
 * `grace` after it. The next slot is computed in the schedule's own time zone by croner and then
 * turned into an instant before the grace is added, so daylight-saving changes are right both ways
 * (a slot in the hour that does not exist runs when the clocks have jumped; a slot in the hour that
 * happens twice runs once, the first time).
 *
 * A `LimitModel` like the learned limits: the engine asks it for deadlines and stays pure (croner
 * computes from the instant it is given, it reads no clock).
 */
import { Cron } from 'croner';
import type { LimitDescription, LimitModel } from './types.ts';

export interface ScheduleSpec {
  cron: string;
  /** IANA zone; default UTC. */
  timezone?: string;
  graceMs: number;
}

/** Throws a readable error for a bad expression or zone (config validation uses it). */
export function parseSchedule(s: { cron: string; timezone?: string }): Cron {
  return new Cron(s.cron, { timezone: s.timezone ?? 'UTC', paused: true, mode: '5-part' });
}

export class ScheduleLimits implements LimitModel {
  readonly kind = 'schedule';
  private readonly cron: Cron;
  /** The last (since -> slot) answer: the engine asks the same `since` again and again. */
  private memo: { since: number; slot: number } | null = null;

  constructor(readonly schedule: ScheduleSpec) {
    this.cron = parseSchedule(schedule);
  }

  /** The first slot strictly after `t` (Infinity when the expression has no future run). */
  nextSlot(t: number): number {
    if (this.memo && this.memo.since === t) return this.memo.slot;
    const next = this.cron.nextRun(new Date(t));
    const slot = next ? next.getTime() : Infinity;
    this.memo = { since: t, slot };
    return slot;
  }

  deadline(since: number, which: 'quiet' | 'page'): number {
    const slot = this.nextSlot(since);
    return which === 'quiet' ? slot : slot + this.schedule.graceMs;
  }

  describe(at: number): LimitDescription {
    const next = this.nextSlot(at);
    const after = this.nextSlot(next);
    const period = Number.isFinite(after - next) ? after - next : 0;
    return {
      quietAfterMs: period,
      pageAfterMs: period + this.schedule.graceMs,
      source: 'schedule',
      nextSlotAt: next,
      graceMs: this.schedule.graceMs,
      schedule: `${this.schedule.cron} (${this.schedule.timezone ?? 'UTC'})`,
    };
  }
}

export function isSchedule(l: LimitModel | undefined): l is ScheduleLimits {
  return (l as { kind?: string } | undefined)?.kind === 'schedule';
}
