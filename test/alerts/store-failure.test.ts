/**
 * Issue 16.1: a page is not lost when the alert store cannot be written. The page goes out from
 * memory, the write is retried (in order) until the store takes it, and health says the store is
 * degraded meanwhile. Then everything is on disk as if nothing had happened: a restart finds the
 * incident, and nothing is sent twice.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { AlertManager } from '../../src/alerts/manager.ts';
import type { AlertCommit, AlertStore } from '../../src/alerts/outbox.ts';
import { SqliteAlertStore } from '../../src/alerts/store-sqlite.ts';
import { memoryStore, RecordingNotifier, VirtualTimers } from './helpers.ts';

const T0 = Date.parse('2026-06-01T10:00:00Z');
const S = 1000;

/** The real store, with writes that fail like a full disk while `full` is set. */
function fullDisk(store: SqliteAlertStore): AlertStore & { full: boolean; failedWrites: number } {
  const w = {} as AlertStore & { full: boolean; failedWrites: number };
  const proto = Object.getPrototypeOf(store) as Record<string, unknown>;
  for (const k of Object.getOwnPropertyNames(proto)) {
    const f = (store as unknown as Record<string, unknown>)[k];
    if (k !== 'constructor' && typeof f === 'function') (w as unknown as Record<string, unknown>)[k] = f.bind(store);
  }
  w.full = false;
  w.failedWrites = 0;
  const fail = () => {
    w.failedWrites++;
    throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
  };
  w.commitAll = async (cs: readonly AlertCommit[]) => (w.full ? fail() : store.commitAll(cs));
  w.commit = async (c: AlertCommit) => (w.full ? fail() : store.commit(c));
  w.updateOutbox = async (id, set) => (w.full ? fail() : store.updateOutbox(id, set));
  return w;
}

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup) await c();
  cleanup = [];
});

function manager(store: AlertStore, clock: ManualClock, timers: VirtualTimers, pd: RecordingNotifier) {
  return new AlertManager({
    store,
    notifiers: { pd },
    routes: { default: { warning: [], page: ['pd'] }, overrides: [] },
    clock,
    logger: silentLogger(),
    retry: { minDelayMs: 1000, maxDelayMs: 60_000, maxAttempts: 5, deadlineMs: 600_000 },
    timers,
    random: () => 0.5,
  });
}

describe('the alert store cannot be written', () => {
  it('the page still goes out (from memory), the write is retried, and health says degraded [store] until it is stored', async () => {
    const clock = new ManualClock(T0);
    const timers = new VirtualTimers(clock);
    const pd = new RecordingNotifier('pd', 'pagerduty', clock);
    const { db, store } = memoryStore();
    const disk = fullDisk(store);
    const m = manager(disk, clock, timers, pd);
    await m.start();
    cleanup.push(async () => {
      await m.stop();
      db.close();
    });

    disk.full = true;
    const inc = await m.checkDown({ check: 'card-auth', labels: {}, at: T0, reason: 'no events for 4m' });
    await timers.advance(100);
    expect(pd.actions()).toEqual(['trigger']); // paged within its deadline, not after a restart
    expect(pd.sent[0]!.n.dedupKey).toBe(inc.dedupKey);
    const h = await m.health();
    expect(h.ok).toBe(false);
    expect(h.degraded).toContain('store');
    expect(h.store).toMatchObject({ ok: false, code: 'SQLITE_FULL' });
    expect(h.store.unsaved).toBeGreaterThan(0);
    expect(await store.getIncident(inc.id)).toBeUndefined(); // really not on disk
    expect((await m.getIncident(inc.id))!.status).toBe('open'); // but known

    // Retries back off while the disk stays full; the page is not sent again meanwhile.
    await timers.advance(10 * S);
    expect(disk.failedWrites).toBeGreaterThan(2);
    expect(pd.actions()).toEqual(['trigger']);

    // A recovery while the disk is full is kept too.
    await m.checkRecovered({ check: 'card-auth', at: T0 + 11 * S, reason: 'events are back' });
    await timers.advance(100);
    expect(pd.actions()).toEqual(['trigger', 'resolve']);

    // Space returns: the next retry stores everything, in order.
    disk.full = false;
    await timers.advance(31 * S);
    const h2 = await m.health();
    expect(h2).toMatchObject({ ok: true, degraded: [], store: { ok: true, unsaved: 0 } });
    expect((await store.getIncident(inc.id))!.status).toBe('resolved');
    const rows = await store.listOutbox({ incidentId: inc.id });
    expect(rows.map((r) => [r.notification.action, r.status])).toEqual([
      ['trigger', 'delivered'],
      ['resolve', 'delivered'],
    ]);
  });

  it('a restart after the store healed sends nothing twice', async () => {
    const clock = new ManualClock(T0);
    const timers = new VirtualTimers(clock);
    const pd = new RecordingNotifier('pd', 'pagerduty', clock);
    const { db, store } = memoryStore();
    const disk = fullDisk(store);
    const m = manager(disk, clock, timers, pd);
    await m.start();
    disk.full = true;
    const inc = await m.checkDown({ check: 'card-auth', labels: {}, at: T0, reason: 'no events' });
    await timers.advance(100);
    disk.full = false;
    await timers.advance(5 * S);
    await m.stop();

    const pd2 = new RecordingNotifier('pd', 'pagerduty', clock);
    const m2 = manager(new SqliteAlertStore(db), clock, timers, pd2);
    await m2.start();
    cleanup.push(async () => {
      await m2.stop();
      db.close();
    });
    await timers.advance(5 * S);
    expect(pd2.sent).toEqual([]);
    expect((await m2.listIncidents({ open: true }))[0]!.id).toBe(inc.id);
    // And the incident is still the one the check is in.
    expect((await m2.checkDown({ check: 'card-auth', labels: {}, at: T0 + 9 * S, reason: 'still' })).id).toBe(inc.id);
  });
});
