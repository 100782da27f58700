/**
 * Rate-drop windows of one check: real events counted in fixed windows (by event time, so an event
 * counts in the window it happened in, however late the judging runs), closed windows judged against
 * the learned normal (evaluateRateDrop). Used by the service (pushed and InfluxDB-fed checks) and by
 * `quietwatch backtest`, so both judge exactly the same windows.
 *
 * - The first window starts at the next window boundary after the first thing observed (a partial
 *   first window would look like a drop).
 * - `observeCount(from, to, n)` shares a counted interval out over the windows it covers, in
 *   proportion to the time covered (InfluxDB polls are seconds long, windows minutes).
 * - `judge(t, watchingSince)` closes every window that ended by t and judges the closed ones that
 *   ended after `watchingSince` (windows before are history: learned, never judged). Only windows
 *   with learned history get a verdict; the normal ones teach the model's rate-drop baseline.
 */
import type { ArrivalModel } from './model.ts';
import { evaluateRateDrop, type RateDropResult } from './rate-drop.ts';

export interface RateWindowOptions {
  window: number;
  minDrop: number;
  /** Tolerated false alarms per ms. */
  falseAlarms: number;
}

export interface ClosedWindow {
  start: number;
  end: number;
  count: number;
}

export interface WindowVerdict extends ClosedWindow {
  verdict: RateDropResult['verdict'];
  reason: string;
}

export class RateWindows {
  private open: { start: number; count: number } | null = null;
  private closed: ClosedWindow[] = [];

  constructor(
    private readonly opts: RateWindowOptions,
    private readonly model: ArrivalModel,
  ) {}

  /** Close every window that ended by t. The first call only places the first window. */
  roll(t: number): void {
    const w = this.opts.window;
    if (!this.open) {
      this.open = { start: Math.floor(t / w) * w + w, count: 0 };
      return;
    }
    while (t >= this.open.start + w) {
      const end: number = this.open.start + w;
      this.closed.push({ start: this.open.start, end, count: this.open.count });
      this.open = { start: end, count: 0 };
    }
  }

  /** One real event at `at`. */
  observe(at: number): void {
    this.roll(at);
    if (at >= this.open!.start) this.open!.count++;
  }

  /** n real events known only as a count over [from, to). */
  observeCount(from: number, to: number, n: number): void {
    if (!(to > from)) return;
    const w = this.opts.window;
    for (let t = from; t < to; ) {
      this.roll(t);
      const open = this.open!;
      const end = Math.min(to, open.start > t ? open.start : open.start + w);
      if (t >= open.start) open.count += (n * (end - t)) / (to - from);
      t = end;
    }
    this.roll(to);
  }

  /** Close the windows that ended by t and judge those that ended after watchingSince. */
  judge(t: number, watchingSince: number): WindowVerdict[] {
    this.roll(t);
    if (this.closed.length === 0) return [];
    const closed = this.closed;
    this.closed = [];
    const out: WindowVerdict[] = [];
    for (const c of closed) {
      if (c.end <= watchingSince) continue;
      const r = evaluateRateDrop(this.model, c.start, c.end, c.count, { minDrop: this.opts.minDrop, falseAlarmsPerMs: this.opts.falseAlarms });
      if (!r.learned) continue;
      // A normal window teaches the baseline (the profile's own expectation, without it).
      if (r.verdict === 'normal') this.model.noteRateWindow(c.start, c.end, c.count, this.model.expectedCount(c.start, c.end));
      out.push({ ...c, verdict: r.verdict, reason: r.reason });
    }
    return out;
  }

  /** The next instant a window closes (for a shell's timer), or null before anything was observed. */
  nextClose(): number | null {
    return this.open ? this.open.start + this.opts.window : null;
  }
}

/**
 * What the engine must be told of one window: a drop always, a normal window only while the check
 * is marked rate-low (to clear it). Asked one window at a time against the engine's own flag (the
 * service and the backtest alike: the engine may ignore a verdict, e.g. while paused).
 */
export function verdictInput(v: WindowVerdict, rateLow: boolean): { kind: 'rate'; verdict: 'drop' | 'normal'; reason: string } | undefined {
  return v.verdict === 'drop' || rateLow ? { kind: 'rate', verdict: v.verdict, reason: v.reason } : undefined;
}
