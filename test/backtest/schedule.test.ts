/**
 * A backtest of a daily file (the shape of a settlement or Bacs batch): eight weeks of weekday files
 * landing 05:35–06:10 London time, one day missing, one day late within grace. The schedule check
 * pages the missing day once, at the end of its grace; the "down after 26 h silent" check it
 * replaces pages that day later (26 h after the day before's file), and falsely every weekend.
 */
import { describe, expect, it } from 'vitest';
import { specFor } from '../../src/checks/spec.ts';
import { parseConfig } from '../../src/config/load.ts';
import { prng } from '../../src/backtest/trace.ts';
import { runBacktest } from '../../src/backtest/run.ts';

const DAY = 86_400_000;

function dailyFile(): { times: Float64Array; missing: number; late: number } {
  const rnd = prng(7);
  const times: number[] = [];
  const start = Date.parse('2026-09-07T00:00:00Z'); // a Monday, across the October DST change
  let missing = 0;
  let late = 0;
  for (let d = 0; d < 56; d++) {
    const day = start + d * DAY;
    const dow = new Date(day).getUTCDay();
    if (dow === 0 || dow === 6) continue;
    // 05:35–06:10 local (London: UTC+1 until 2026-10-25, then UTC).
    const offset = day < Date.parse('2026-10-25T01:00:00Z') ? 3_600_000 : 0;
    const local = day + (5 * 60 + 35) * 60_000 + rnd() * 35 * 60_000;
    if (d === 23) {
      missing = day + 6.5 * 3_600_000 - offset; // its slot's grace end, 06:30 local
      continue;
    }
    if (d === 30) {
      late = day + (6 * 60 + 25) * 60_000 - offset; // 06:25 local: late, within grace
      times.push(late);
      continue;
    }
    times.push(local - offset);
  }
  return { times: Float64Array.from(times), missing, late };
}

const check = (body: string) => specFor(parseConfig(`checks:\n  - name: settlement\n${body}`, '<t>', {}).checks[0]!);

describe('backtest: a daily file on a schedule', () => {
  it('pages the missing day once, at the end of its grace, and nothing else; the 26 h limit pages later and at weekends', () => {
    const { times, missing, late } = dailyFile();
    const trace = { kind: 'events' as const, times };
    const outages = [{ start: missing - 3_600_000, end: missing + 20 * 3_600_000 }];
    const scheduled = runBacktest({ spec: check('    schedule: { cron: "30 5 * * 1-5", timezone: Europe/London, grace: 1h }\n'), trace, outages });
    expect(scheduled.pages.map((p) => new Date(p.at).toISOString())).toEqual([new Date(missing).toISOString()]);
    expect(scheduled.falsePages).toBe(0);
    expect(scheduled.outages[0]!.delayMs).toBe(3_600_000); // detected at slot + grace (outage window starts at the slot)
    expect(late).toBeGreaterThan(0);

    const silence = runBacktest({ spec: check('    quietAfter: 25h\n    pageAfter: 26h\n'), trace, outages });
    expect(silence.falsePages).toBeGreaterThanOrEqual(7); // every weekend
    const truePage = silence.pages.find((p) => p.true)!;
    expect(truePage.at - missing).toBeGreaterThan(30 * 60_000); // 26 h after the day before's file: later than 06:30
  });
});
