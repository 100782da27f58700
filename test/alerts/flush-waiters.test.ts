import { afterEach, describe, expect, it } from 'vitest';
import { AlertManager } from '../../src/alerts/manager.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { memoryStore, RecordingNotifier, VirtualTimers } from './helpers.ts';

const T0 = Date.UTC(2026, 11, 2, 12, 0, 0);
const turn = () => new Promise<void>((r) => setImmediate(r));
let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup) await c();
  cleanup = [];
});

describe('the alert journal under a long storm', () => {
  it('a caller waits for its own writes only: changes written every turn after it never hold it back (a store that answers later)', async () => {
    const clock = new ManualClock(T0);
    const { db, store } = memoryStore();
    const commits: number[] = [];
    const commitAll = store.commitAll!.bind(store);
    // A store that answers a turn later (a network round trip, as PostgreSQL): writes keep coming meanwhile.
    store.commitAll = async (cs) => {
      commits.push(cs.length);
      await turn();
      return commitAll(cs);
    };
    const m = new AlertManager({
      store,
      notifiers: { pd: new RecordingNotifier('pd', 'pagerduty', clock) },
      routes: { default: { warning: [], page: ['pd'] }, overrides: [] },
      clock,
      logger: silentLogger(),
      retry: { minDelayMs: 1000, maxDelayMs: 60_000, maxAttempts: 5, deadlineMs: 600_000 },
      timers: new VirtualTimers(clock),
    });
    await m.start();
    cleanup.push(async () => {
      await m.stop();
      db.close();
    });
    // A storm: 3,000 members join in the first turn (three transactions of 1,000), then more every turn.
    let first = false;
    const firstDown = Array.from({ length: 3000 }, (_, i) => m.checkDown({ check: `c${i}`, at: T0, reason: 'silent' }));
    void Promise.all(firstDown).then(() => (first = true));
    let i = 3000;
    let turns = 0;
    while (!first && turns < 50) {
      for (let k = 0; k < 100; k++, i++) void m.checkDown({ check: `c${i}`, at: T0, reason: 'silent' });
      await turn();
      turns++;
    }
    expect(first).toBe(true);
    expect(turns).toBeLessThan(15); // waiting for every later write too, it would take all 50
    expect(commits.length).toBeGreaterThan(1); // the journal went in several transactions, turns apart
    expect((await m.listIncidents({ open: true }))).toHaveLength(1);
  });
});
