import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Coalescer } from '../../src/board/hub.ts';
import { boardIncidents, sseComment, sseEvent } from '../../src/board/model.ts';
import { boardPage } from '../../src/board/page.ts';
import { createHash } from 'node:crypto';

describe('Coalescer', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends the first touch on the next turn, merging touches of the same turn', async () => {
    const sent: string[] = [];
    const c = new Coalescer(250, (k) => sent.push(k));
    c.touch('a');
    c.touch('a');
    c.touch('b');
    expect(sent).toEqual([]);
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toEqual(['a', 'b']);
  });

  it.each([
    // touches at these times (ms) -> sends at these times
    [[0], [0]],
    [[0, 100], [0, 250]],
    [[0, 100, 200, 240], [0, 250]],
    [[0, 100, 300], [0, 250, 500]],
    [[0, 260], [0, 260]],
    [[0, 249, 250, 499], [0, 250, 500]],
    [[0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 600], [0, 250, 600]],
  ])('touches at %j go out at %j (at most one per 250 ms, the last always)', async (touches, expected) => {
    const sent: number[] = [];
    const t0 = Date.now();
    const c = new Coalescer(250, () => sent.push(Date.now() - t0));
    let now = 0;
    for (const t of touches) {
      await vi.advanceTimersByTimeAsync(t - now);
      now = t;
      c.touch('k');
    }
    await vi.advanceTimersByTimeAsync(2000);
    expect(sent).toEqual(expected);
  });

  it('keys are independent', async () => {
    const sent: Array<[string, number]> = [];
    const t0 = Date.now();
    const c = new Coalescer(250, (k) => sent.push([k, Date.now() - t0]));
    c.touch('a');
    await vi.advanceTimersByTimeAsync(100);
    c.touch('b');
    c.touch('a');
    await vi.advanceTimersByTimeAsync(1000);
    expect(sent).toEqual([
      ['a', 0],
      ['b', 100],
      ['a', 250],
    ]);
  });

  it('clear() drops pending sends and timers', async () => {
    const sent: string[] = [];
    const c = new Coalescer(250, (k) => sent.push(k));
    c.touch('a');
    await vi.advanceTimersByTimeAsync(0);
    c.touch('a');
    c.clear();
    await vi.advanceTimersByTimeAsync(1000);
    expect(sent).toEqual(['a']);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('board model', () => {
  it('lists open incidents oldest first, reading ackedAt or acknowledgedAt, leaving resolved ones off', () => {
    expect(
      boardIncidents([
        { id: 'b', check: 'c2', openedAt: 200, ackedAt: 250, summary: 'two' },
        { id: 'a', check: 'c1', openedAt: 100 },
        { id: 'r', check: 'c3', openedAt: 50, status: 'resolved' },
        { id: 'c', check: 'c4', openedAt: 300, acknowledgedAt: null, summary: 'x'.repeat(2000) },
      ]),
    ).toEqual([
      { id: 'a', check: 'c1', openedAt: 100, acknowledgedAt: null, summary: '' },
      { id: 'b', check: 'c2', openedAt: 200, acknowledgedAt: 250, summary: 'two' },
      { id: 'c', check: 'c4', openedAt: 300, acknowledgedAt: null, summary: 'x'.repeat(500) },
    ]);
  });

  it('frames events so no value can break out of its data line', () => {
    const f = sseEvent('check', { name: 'a\n\nevent: snapshot\ndata: {}', s: '\r\n' });
    expect(f.split('\n').filter((l) => l.startsWith('data:'))).toHaveLength(1);
    expect(f.endsWith('\n\n')).toBe(true);
    expect(f.slice(0, -2)).not.toContain('\n\n');
    expect(sseComment('a\nb')).toBe(': a b\n\n');
  });

  it('allows exactly its own inline script and style in the CSP', () => {
    const script = /<script>([\s\S]*)<\/script>/.exec(boardPage.html)![1]!;
    const style = /<style>([\s\S]*)<\/style>/.exec(boardPage.html)![1]!;
    const hash = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;
    const csp = boardPage.headers['content-security-policy']!;
    expect(csp).toContain(`script-src ${hash(script)}`);
    expect(csp).toContain(`style-src ${hash(style)}`);
  });
});

describe('BoardHistory (the strips and sparklines)', async () => {
  const { BoardHistory, HISTORY_WINDOW_MS } = await import('../../src/board/history.ts');
  const { EventEmitter } = await import('node:events');
  const { ManualClock } = await import('../../src/lib/clock.ts');
  const T = Date.UTC(2026, 11, 2, 12, 0, 0);

  function fakeRuntime(status: Record<string, { status: string; since: number }>) {
    const ee = new EventEmitter();
    return Object.assign(ee, {
      snapshots: () => Object.entries(status).map(([name, s]) => ({ name, ...s })),
      snapshot: (name: string) => (status[name] ? { name, ...status[name] } : undefined),
      names: () => Object.keys(status),
      spec: (name: string) => ({ name, stream: name, match: name === 'visa' ? { scheme: ['visa'] } : {}, limits: { describe: () => ({ expectedPerMinute: 30 }) } }),
    });
  }

  it('bands from stored flips and live flips, clipped to the last 6 hours, "none" where nothing is known', () => {
    const clock = new ManualClock(T);
    const st = { a: { status: 'unknown', since: T } };
    const rt = fakeRuntime(st);
    const h = new BoardHistory({ runtime: rt as never, clock });
    h.load('a', [
      { at: T - 3 * 3600_000, from: 'unknown', to: 'ok' },
      { at: T - 3600_000, from: 'ok', to: 'down' },
    ]);
    rt.emit('flip', { check: 'a', at: T + 1000, from: 'down', to: 'ok' });
    st.a = { status: 'ok', since: T + 1000 };
    clock.set(T + 60_000);
    const b = h.history('a')!.bands;
    expect(b[0]).toEqual({ from: T + 60_000 - HISTORY_WINDOW_MS, to: T - 3 * 3600_000 - 1, status: 'none' });
    expect(b.map((x) => x.status)).toEqual(['none', 'unknown', 'ok', 'down', 'unknown', 'ok']);
    expect(b.at(-1)).toEqual({ from: T + 1000, to: null, status: 'ok' });
  });

  it('a takeover reads the old leader\'s flips again: the bands this follower never heard of appear', async () => {
    const clock = new ManualClock(T);
    const st = { a: { status: 'ok', since: T - 2 * 3600_000 } };
    const rt = fakeRuntime(st);
    const h = new BoardHistory({ runtime: rt as never, clock });
    // this replica followed for 30 minutes: the old leader saw a go down and come back; it heard nothing
    clock.set(T + 1_800_000);
    expect(h.history('a')!.bands.map((x) => x.status)).toEqual(['none', 'ok']);
    const stored = [
      { at: T + 600_000, from: 'down', to: 'ok' },
      { at: T + 60_000, from: 'ok', to: 'down' },
      { at: T - 2 * 3600_000, from: 'unknown', to: 'ok' },
    ];
    await h.reloadAll(async (check, limit) => (check === 'a' ? stored.slice(0, limit) : []) as never);
    rt.emit('flip', { check: 'a', at: T + 1_800_500, from: 'ok', to: 'quiet' }); // after the takeover, as usual
    st.a = { status: 'quiet', since: T + 1_800_500 };
    clock.set(T + 1_801_000);
    const b = h.history('a')!.bands;
    expect(b.map((x) => [x.status, x.from - T])).toEqual([
      ['none', 1_801_000 - HISTORY_WINDOW_MS],
      ['unknown', -2 * 3600_000 - 1],
      ['ok', -2 * 3600_000],
      ['down', 60_000],
      ['ok', 600_000],
      ['quiet', 1_800_500],
    ]);
    h.reload('a', []); // nothing stored: unchanged
    expect(h.history('a')!.bands).toEqual(b);
  });

  it('a check down across a restart (no flip) shows down from when it went down', () => {
    const clock = new ManualClock(T);
    const h = new BoardHistory({ runtime: fakeRuntime({ a: { status: 'down', since: T - 600_000 } }) as never, clock });
    expect(h.history('a')!.bands.at(-1)).toEqual({ from: T - 600_000, to: null, status: 'down' });
  });

  it('counts real events per minute for the checks they match, with the learned normal; probe transactions left out', () => {
    const clock = new ManualClock(T);
    const h = new BoardHistory({ runtime: fakeRuntime({ visa: { status: 'ok', since: T }, other: { status: 'ok', since: T } }) as never, clock, isSynthetic: (a) => 'probe_id' in a });
    expect(h.history('visa')!.rate).toBeUndefined(); // nothing feeds counts yet
    h.recordEvents([
      { stream: 'visa', arrivedAt: T - 90_000, attributes: { scheme: 'visa' } },
      { stream: 'visa', arrivedAt: T - 80_000, attributes: { scheme: 'visa' } },
      { stream: 'visa', arrivedAt: T - 80_000, attributes: { scheme: 'mastercard' } },
      { stream: 'visa', arrivedAt: T - 70_000, attributes: { scheme: 'visa', probe_id: 'pr_1' } },
      { stream: 'other', arrivedAt: T - 10_000, attributes: {} },
      // an InfluxDB-fed check's newest point stands for a whole poll: counted by recordCount instead
      { stream: 'other', arrivedAt: T - 10_000, attributes: {}, check: 'other' },
    ]);
    h.recordCount('other', T - 5_000, 40);
    const r = h.history('visa')!.rate!;
    expect(r.counts).toHaveLength(360);
    expect(r.counts.at(-3)).toBe(2); // 11:58 (T is 12:00:00: the last bucket is the current minute)
    expect(r.counts.reduce((a, b) => a + b, 0)).toBe(2);
    expect(r.expected.every((e) => e === 30)).toBe(true);
    expect(h.history('other')!.rate!.counts.at(-2)).toBe(41); // 11:59: one pushed event and a poll's 40 points
  });
});
