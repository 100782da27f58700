/**
 * Time of week in a time zone: which learning bucket an instant falls in, and where that bucket
 * starts and ends (in UTC ms). Public holidays are mapped onto the Sunday profile.
 *
 * Pure and cheap: the zone offset is computed with Intl once per 15 minutes of UTC and cached, so
 * the hot path (observe) only compares against the current bucket's end.
 */
const DAY = 86_400_000;
const WEEK = 7 * DAY;
const OFFSET_GRAIN = 15 * 60_000;

export interface BucketRef {
  /** Index in the week, 0 = Monday 00:00 local (holidays: the Sunday index of the same hour). */
  index: number;
  /** Absolute bucket number (local time / bucketMs): consecutive buckets differ by one. */
  abs: number;
  start: number;
  end: number;
}

export class TimeOfWeek {
  readonly perDay: number;
  readonly perWeek: number;
  private readonly fmt: Intl.DateTimeFormat | null;
  private readonly offsets = new Map<number, number>();
  private readonly holidayDays: Set<number>;

  constructor(
    readonly timezone: string,
    readonly bucketMs: number,
    holidays: readonly string[] = [],
  ) {
    if (!(bucketMs > 0) || DAY % bucketMs !== 0) throw new Error(`bucket must divide one day (got ${bucketMs} ms)`);
    this.perDay = DAY / bucketMs;
    this.perWeek = 7 * this.perDay;
    this.fmt =
      timezone === 'UTC' || timezone === 'Etc/UTC'
        ? null
        : new Intl.DateTimeFormat('en-US', {
            timeZone: timezone,
            hourCycle: 'h23',
            year: 'numeric',
            month: 'numeric',
            day: 'numeric',
            hour: 'numeric',
            minute: 'numeric',
            second: 'numeric',
          });
    this.holidayDays = new Set(holidays.map((d) => Math.floor(Date.parse(`${d}T00:00:00Z`) / DAY)));
  }

  /** Milliseconds to add to UTC to get local wall-clock time at `t`. */
  offsetAt(t: number): number {
    if (!this.fmt) return 0;
    const key = Math.floor(t / OFFSET_GRAIN);
    const hit = this.offsets.get(key);
    if (hit !== undefined) return hit;
    const p: Record<string, number> = {};
    for (const part of this.fmt.formatToParts(new Date(key * OFFSET_GRAIN))) {
      if (part.type !== 'literal') p[part.type] = Number(part.value);
    }
    const local = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
    const off = Math.round((local - key * OFFSET_GRAIN) / 60_000) * 60_000;
    if (this.offsets.size > 50_000) this.offsets.clear();
    this.offsets.set(key, off);
    return off;
  }

  isHoliday(t: number): boolean {
    return this.holidayDays.has(Math.floor((t + this.offsetAt(t)) / DAY));
  }

  locate(t: number): BucketRef {
    const off = this.offsetAt(t);
    const local = t + off;
    const abs = Math.floor(local / this.bucketMs);
    const dayNo = Math.floor(local / DAY);
    // 1970-01-01 was a Thursday: Monday = 0 ... Sunday = 6.
    const dow = this.holidayDays.has(dayNo) ? 6 : (((dayNo + 3) % 7) + 7) % 7;
    const inDay = abs - dayNo * this.perDay;
    const start = abs * this.bucketMs - off;
    return { index: dow * this.perDay + inDay, abs, start, end: start + this.bucketMs };
  }

  /** The time-of-day slot of a week index (pooled profile used while a week is not yet seen). */
  daySlot(index: number): number {
    return index % this.perDay;
  }
}

export const MS = { DAY, WEEK } as const;
