import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ProbeScheduler } from '../../src/probes/schedule.ts';

describe('ProbeScheduler (node-cron with a time zone)', () => {
  let fired: { check: string; at: string }[];
  let s: ProbeScheduler;
  beforeEach(() => {
    fired = [];
    s = new ProbeScheduler({ onFire: (check) => fired.push({ check, at: new Date().toISOString() }) });
  });
  afterEach(() => {
    s.stop();
    vi.useRealTimers();
  });

  it('computes the next run in the check time zone', () => {
    vi.useFakeTimers({ now: new Date('2026-11-29T00:00:00Z') });
    s.add('berlin', { cron: '0 3 * * *', timezone: 'Europe/Berlin' }); // CET = UTC+1
    s.add('newyork', { cron: '0 3 * * *', timezone: 'America/New_York' }); // EST = UTC-5
    expect(s.nextRun('berlin')?.toISOString()).toBe('2026-11-29T02:00:00.000Z');
    expect(s.nextRun('newyork')?.toISOString()).toBe('2026-11-29T08:00:00.000Z');
    expect(s.nextRun('none')).toBeUndefined();
    expect(s.checks().sort()).toEqual(['berlin', 'newyork']);
  });

  it('fires at 03:00 local time, not before, and again the next day', async () => {
    vi.useFakeTimers({ now: new Date('2026-11-29T00:00:00Z') });
    s.add('cards', { cron: '0 3 * * *', timezone: 'Europe/Berlin' });
    await vi.advanceTimersByTimeAsync(2 * 3_600_000 - 1000); // 01:59:59Z
    expect(fired).toEqual([]);
    await vi.advanceTimersByTimeAsync(2000); // past 02:00:00Z = 03:00 CET
    expect(fired).toHaveLength(1);
    expect(fired[0]!.check).toBe('cards');
    expect(fired[0]!.at.startsWith('2026-11-29T02:00:0')).toBe(true);
    await vi.advanceTimersByTimeAsync(24 * 3_600_000);
    expect(fired.map((f) => f.at.slice(0, 16))).toEqual(['2026-11-29T02:00', '2026-11-30T02:00']);
  });

  it('follows daylight saving time: 03:00 Berlin is 01:00Z in summer', () => {
    vi.useFakeTimers({ now: new Date('2026-07-01T00:00:00Z') });
    s.add('cards', { cron: '0 3 * * *', timezone: 'Europe/Berlin' }); // CEST = UTC+2
    expect(s.nextRun('cards')?.toISOString()).toBe('2026-07-01T01:00:00.000Z');
  });

  it('stop / remove: nothing fires afterwards', async () => {
    vi.useFakeTimers({ now: new Date('2026-11-29T00:00:00Z') });
    s.add('a', { cron: '*/5 * * * *', timezone: 'UTC' });
    s.add('b', { cron: '*/5 * * * *', timezone: 'UTC' });
    s.remove('a');
    await vi.advanceTimersByTimeAsync(5 * 60_000 + 1000);
    expect(fired.map((f) => f.check)).toEqual(['b']);
    s.stop();
    await vi.advanceTimersByTimeAsync(60 * 60_000);
    expect(fired).toHaveLength(1);
  });

  it('rejects a bad expression at add()', () => {
    expect(() => s.add('x', { cron: 'whenever' })).toThrow(/cron/);
  });
});
