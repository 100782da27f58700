/**
 * Silence and maintenance-window matching. Pure: every function takes the time as an argument.
 * Windows are cron expressions read in an IANA time zone (croner), so they follow DST:
 * a start time that does not exist (spring forward) runs at the first instant after the gap,
 * an ambiguous one (fall back) runs once, at its first occurrence.
 */
import { Cron } from 'croner';
import type { MaintenanceWindow, Silence, SilenceMatchers } from './types.ts';

export interface SilenceTarget {
  check: string;
  labels: Record<string, string>;
}

/** True when every given matcher matches (an empty matcher set matches nothing, to be safe). */
export function matches(m: SilenceMatchers, t: SilenceTarget): boolean {
  const labels = Object.entries(m.labels ?? {});
  if (m.check === undefined && labels.length === 0) return false;
  if (m.check !== undefined && !globMatch(m.check, t.check)) return false;
  return labels.every(([k, v]) => t.labels[k] === v);
}

/** `*` matches any run of characters; everything else is literal. */
export function globMatch(pattern: string, value: string): boolean {
  if (!pattern.includes('*')) return pattern === value;
  const re = new RegExp(`^${pattern.split('*').map(escapeRe).join('.*')}$`);
  return re.test(value);
}
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** An ad hoc silence is active on [startsAt, endsAt). */
export function silenceActiveAt(s: Silence, at: number): boolean {
  return s.startsAt <= at && at < s.endsAt;
}

const cronCache = new Map<string, Cron>();
function cronFor(w: MaintenanceWindow): Cron {
  const key = `${w.timezone}\u0000${w.cron}`;
  let c = cronCache.get(key);
  if (!c) {
    c = new Cron(w.cron, { timezone: w.timezone, paused: true });
    cronCache.set(key, c);
  }
  return c;
}

/** Throws with a readable message when the cron expression or time zone is invalid (for config validation). */
export function validateWindow(w: Pick<MaintenanceWindow, 'cron' | 'timezone'>): void {
  const c = new Cron(w.cron, { timezone: w.timezone, paused: true });
  c.nextRun(new Date(0));
}

/**
 * If the window is open at `at` (some start s with s <= at < s + duration), the instant it closes
 * (the latest close among overlapping occurrences); otherwise undefined.
 */
export function windowEndAt(w: MaintenanceWindow, at: number): number | undefined {
  if (w.durationMs <= 0) return undefined;
  const c = cronFor(w);
  let end: number | undefined;
  let s = c.nextRun(new Date(at - w.durationMs)); // strictly after at - duration
  for (let i = 0; s && s.getTime() <= at && i < 1000; i++) {
    end = Math.max(end ?? 0, s.getTime() + w.durationMs);
    s = c.nextRun(s);
  }
  return end;
}

/** The next time the window opens strictly after `after`. */
export function nextWindowStart(w: MaintenanceWindow, after: number): number | undefined {
  return cronFor(w).nextRun(new Date(after))?.getTime();
}

export interface SilenceState {
  silenced: boolean;
  /** When the silence (all overlapping silences and windows, chained) ends. */
  until?: number;
  /** What silenced it: silence ids and window names. */
  by: string[];
}

/**
 * Is the target silenced at `at`? If so, until when — following chains of overlapping or adjacent
 * silences and windows, so a page held by one is not released into the next.
 */
export function silenceState(
  target: SilenceTarget,
  at: number,
  silences: readonly Silence[],
  windows: readonly MaintenanceWindow[],
): SilenceState {
  const by: string[] = [];
  let t = at;
  let silenced = false;
  for (let guard = 0; guard < 1000; guard++) {
    let end: number | undefined;
    for (const s of silences) {
      if (silenceActiveAt(s, t) && matches(s.matchers, target)) {
        end = Math.max(end ?? 0, s.endsAt);
        if (!by.includes(s.id)) by.push(s.id);
      }
    }
    for (const w of windows) {
      if (!matches(w.matchers, target)) continue;
      const e = windowEndAt(w, t);
      if (e !== undefined) {
        end = Math.max(end ?? 0, e);
        if (!by.includes(`window:${w.name}`)) by.push(`window:${w.name}`);
      }
    }
    if (end === undefined || end <= t) break;
    silenced = true;
    t = end;
  }
  return silenced ? { silenced, until: t, by } : { silenced: false, by: [] };
}
