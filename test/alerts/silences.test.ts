import { describe, expect, it } from 'vitest';
import { globMatch, matches, nextWindowStart, silenceState, windowEndAt } from '../../src/alerts/silences.ts';
import type { MaintenanceWindow, Silence } from '../../src/alerts/types.ts';

const T = (iso: string) => Date.parse(iso);
const H = 3_600_000;

describe('matches', () => {
  const t = { check: 'card-auth-eu', labels: { team: 'payments', env: 'prod' } };
  it.each([
    [{ check: 'card-auth-eu' }, true],
    [{ check: 'card-auth-*' }, true],
    [{ check: 'card-auth' }, false],
    [{ labels: { team: 'payments' } }, true],
    [{ labels: { team: 'payments', env: 'staging' } }, false],
    [{ check: 'card-auth-eu', labels: { env: 'prod' } }, true],
    [{ check: 'card-auth-eu', labels: { env: 'dev' } }, false],
    [{}, false],
    [{ labels: {} }, false],
  ])('%j -> %s', (m, want) => {
    expect(matches(m, t)).toBe(want);
  });
  it('treats regex characters in check patterns literally', () => {
    expect(globMatch('a.b*', 'a.bc')).toBe(true);
    expect(globMatch('a.b*', 'axbc')).toBe(false);
  });
});

describe('ad hoc silences', () => {
  const s = (id: string, from: string, to: string, m: Silence['matchers'] = { check: 'c' }): Silence => ({
    id,
    matchers: m,
    startsAt: T(from),
    endsAt: T(to),
    reason: 'deploy',
    createdBy: 'ana',
    createdAt: 0,
  });
  const target = { check: 'c', labels: {} };

  it.each([
    ['2026-06-01T09:59:59.999Z', false, undefined],
    ['2026-06-01T10:00:00Z', true, '2026-06-01T12:00:00.000Z'], // start is inclusive
    ['2026-06-01T11:59:59.999Z', true, '2026-06-01T12:00:00.000Z'],
    ['2026-06-01T12:00:00Z', false, undefined], // end is exclusive
  ])('at %s silenced=%s until %s', (at, silenced, until) => {
    const st = silenceState(target, T(at), [s('s1', '2026-06-01T10:00:00Z', '2026-06-01T12:00:00Z')], []);
    expect(st.silenced).toBe(silenced);
    expect(st.until === undefined ? undefined : new Date(st.until).toISOString()).toBe(until);
  });

  it('follows overlapping and back-to-back silences to the real end', () => {
    const list = [
      s('a', '2026-06-01T10:00:00Z', '2026-06-01T11:00:00Z'),
      s('b', '2026-06-01T10:30:00Z', '2026-06-01T12:00:00Z'),
      s('c', '2026-06-01T12:00:00Z', '2026-06-01T13:00:00Z', { labels: { team: 'x' } }), // does not match
      s('d', '2026-06-01T12:00:00Z', '2026-06-01T12:30:00Z'),
    ];
    const st = silenceState(target, T('2026-06-01T10:15:00Z'), list, []);
    expect(new Date(st.until!).toISOString()).toBe('2026-06-01T12:30:00.000Z');
    expect(st.by).toEqual(['a', 'b', 'd']);
  });
});

describe('maintenance windows (croner, IANA time zones)', () => {
  const w = (cron: string, hours: number, timezone = 'Europe/London'): MaintenanceWindow => ({
    name: 'nightly',
    cron,
    durationMs: hours * H,
    timezone,
    matchers: { check: 'c' },
  });
  const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

  it('opens at the local start time and closes after the duration (winter, GMT)', () => {
    const win = w('0 2 * * *', 2);
    expect(iso(windowEndAt(win, T('2026-01-10T01:59:59Z')))).toBeUndefined();
    expect(iso(windowEndAt(win, T('2026-01-10T02:00:00Z')))).toBe('2026-01-10T04:00:00.000Z');
    expect(iso(windowEndAt(win, T('2026-01-10T03:59:59Z')))).toBe('2026-01-10T04:00:00.000Z');
    expect(iso(windowEndAt(win, T('2026-01-10T04:00:00Z')))).toBeUndefined();
  });

  it('follows summer time: 02:00 London is 01:00 UTC in July', () => {
    const win = w('0 2 * * *', 2);
    expect(iso(windowEndAt(win, T('2026-07-10T00:59:59Z')))).toBeUndefined();
    expect(iso(windowEndAt(win, T('2026-07-10T01:00:00Z')))).toBe('2026-07-10T03:00:00.000Z');
  });

  // Europe/London 2026-03-29: clocks go 01:00 GMT -> 02:00 BST; 01:30 local does not exist.
  it('spring forward: a start inside the skipped hour opens at the end of the gap', () => {
    const win = w('30 1 * * *', 2);
    expect(iso(nextWindowStart(win, T('2026-03-28T12:00:00Z')))).toBe('2026-03-29T01:00:00.000Z');
    expect(iso(windowEndAt(win, T('2026-03-29T00:59:59Z')))).toBeUndefined();
    expect(iso(windowEndAt(win, T('2026-03-29T01:00:00Z')))).toBe('2026-03-29T03:00:00.000Z');
    // the next night is 01:30 BST = 00:30 UTC
    expect(iso(windowEndAt(win, T('2026-03-30T00:30:00Z')))).toBe('2026-03-30T02:30:00.000Z');
  });

  it('spring forward: a window spanning the change lasts its duration in real time', () => {
    // starts 00:30 GMT (00:30 UTC), 2 h -> ends 02:30 UTC = 03:30 BST local
    const win = w('30 0 * * *', 2);
    expect(iso(windowEndAt(win, T('2026-03-29T02:29:59Z')))).toBe('2026-03-29T02:30:00.000Z');
    expect(iso(windowEndAt(win, T('2026-03-29T02:30:00Z')))).toBeUndefined();
  });

  // Europe/London 2026-10-25: clocks go 02:00 BST -> 01:00 GMT; 01:30 local happens twice.
  it('fall back: an ambiguous start opens once, at the first 01:30 (BST)', () => {
    const win = w('30 1 * * *', 2);
    expect(iso(nextWindowStart(win, T('2026-10-24T12:00:00Z')))).toBe('2026-10-25T00:30:00.000Z');
    expect(iso(windowEndAt(win, T('2026-10-25T00:30:00Z')))).toBe('2026-10-25T02:30:00.000Z');
    // 02:30Z: the window is over; the repeated 01:30 (GMT, 01:30Z) fell inside it and did not start another
    expect(iso(windowEndAt(win, T('2026-10-25T02:30:00Z')))).toBeUndefined();
    expect(iso(nextWindowStart(win, T('2026-10-25T00:30:00Z')))).toBe('2026-10-26T01:30:00.000Z'); // 01:30 GMT
  });

  it('silenceState chains a window and an ad hoc silence', () => {
    const win = w('0 2 * * *', 1, 'UTC');
    const s: Silence = { id: 'x', matchers: { check: 'c' }, startsAt: T('2026-01-10T02:30:00Z'), endsAt: T('2026-01-10T05:00:00Z'), reason: '', createdBy: '', createdAt: 0 };
    const st = silenceState({ check: 'c', labels: {} }, T('2026-01-10T02:10:00Z'), [s], [win]);
    expect(iso(st.until)).toBe('2026-01-10T05:00:00.000Z');
    expect(st.by).toEqual(['window:nightly', 'x']);
  });

  it('handles windows in other zones (America/New_York DST 2026-03-08)', () => {
    const win = w('0 1 * * *', 3, 'America/New_York'); // 01:00 EST = 06:00Z; window spans the 02:00 jump
    expect(iso(windowEndAt(win, T('2026-03-08T06:00:00Z')))).toBe('2026-03-08T09:00:00.000Z');
  });
});
