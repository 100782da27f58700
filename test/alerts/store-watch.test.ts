import { describe, expect, it } from 'vitest';
import { StoreWatch } from '../../src/alerts/store-watch.ts';
import type { Notification, Notifier } from '../../src/alerts/types.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { silentLogger } from '../../src/lib/logger.ts';

class Recording implements Notifier {
  readonly kind = 'pagerduty' as const;
  sent: Notification[] = [];
  failNext = 0;
  constructor(readonly name: string) {}
  async send(n: Notification) {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('503 from PagerDuty');
    }
    this.sent.push(n);
    return {};
  }
}

describe('StoreWatch: the store itself is lost', () => {
  it('pages through every fallback notifier after afterMs, retries one that failed, and resolves with the same key', async () => {
    const clock = new ManualClock(Date.parse('2026-12-02T03:00:00Z'));
    let down = false;
    const a = new Recording('pager-fallback');
    const b = new Recording('sns');
    b.failNext = 1;
    const w = new StoreWatch({ where: 'db.example:5432/quietwatch', ping: async () => void (down && (() => { throw new Error('connect ECONNREFUSED 10.0.0.5:5432'); })()), notifiers: [a, b], clock, logger: silentLogger(), afterMs: 15_000 });
    await w.tick();
    expect(w.health()).toEqual({ ok: true, page: 'none' });
    down = true;
    await w.tick();
    clock.advance(10_000);
    await w.tick();
    expect(a.sent).toHaveLength(0); // not yet: 10 s < 15 s
    clock.advance(5_000);
    await w.tick();
    expect(a.sent.map((n) => n.action)).toEqual(['trigger']);
    expect(a.sent[0]!.summary).toMatch(/^quietwatch has lost its store \(db\.example:5432\/quietwatch\) since 2026-12-02T03:00:00\.000Z: connect ECONNREFUSED/);
    expect(b.sent).toHaveLength(0);
    expect(w.health()).toMatchObject({ ok: false, page: 'pending' });
    clock.advance(5_000);
    await w.tick();
    expect(a.sent).toHaveLength(1); // never twice
    expect(b.sent.map((n) => n.action)).toEqual(['trigger']);
    expect(w.health().page).toBe('delivered');
    down = false;
    await w.tick();
    expect(a.sent.map((n) => n.action)).toEqual(['trigger', 'resolve']);
    expect(new Set([...a.sent, ...b.sent].map((n) => n.dedupKey)).size).toBe(1);
    expect(w.health()).toEqual({ ok: true, page: 'none' });
  });

  it('a short blip pages nobody', async () => {
    const clock = new ManualClock(0);
    let down = true;
    const a = new Recording('p');
    const w = new StoreWatch({ where: 'x', ping: async () => { if (down) throw new Error('timeout'); }, notifiers: [a], clock, logger: silentLogger(), afterMs: 15_000 });
    await w.tick();
    clock.advance(14_000);
    down = false;
    await w.tick();
    clock.advance(60_000);
    await w.tick();
    expect(a.sent).toHaveLength(0);
  });

  it('failing writes count even when the ping answers (a full disk), and a retry that works clears them', async () => {
    const clock = new ManualClock(0);
    let failing: { since: number; message: string } | undefined = { since: 0, message: 'database or disk is full' };
    let retryWorks = false;
    const a = new Recording('p');
    const w = new StoreWatch({ where: 'q.sqlite', ping: async () => {}, writeFailure: () => failing, retryWrites: async () => (retryWorks ? ((failing = undefined), true) : false), notifiers: [a], clock, logger: silentLogger(), afterMs: 1_000 });
    clock.advance(2_000);
    await w.tick();
    expect(a.sent.map((n) => n.summary)[0]).toMatch(/writes fail: database or disk is full/);
    retryWorks = true;
    await w.tick();
    expect(a.sent.map((n) => n.action)).toEqual(['trigger', 'resolve']);
  });
});
