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
