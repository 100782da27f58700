/**
 * SqliteStore.commit writes states and flips 50 rows to a statement, the rest one by one: every
 * row lands once, states upserted, flips in their order, whatever the count.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { initialState } from '../../src/checks/engine.ts';
import type { CheckState, Flip } from '../../src/checks/types.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { tempDir } from '../helpers/service.ts';

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SqliteStore.commit in multi-row statements', () => {
  it.each([0, 1, 49, 50, 51, 123, 1000])('%i states and flips round-trip, in order, upserted on the second commit', async (n) => {
    const store = new SqliteStore(join(dir, `c${n}.sqlite`));
    try {
      const states = (status: CheckState['status'], at: number) => new Map(Array.from({ length: n }, (_, i) => [`c${i}`, { ...initialState(at), status }] as [string, CheckState]));
      const flips = (to: Flip['to'], at: number): Flip[] => Array.from({ length: n }, (_, i) => ({ check: `c${i % 7}`, from: 'ok', to, at: at + i, reason: `r${i}` }) as Flip);
      await store.commit(states('quiet', 1000), flips('quiet', 1000));
      await store.commit(states('down', 2000), flips('down', 2000));
      const loaded = await store.loadCheckStates();
      expect(loaded.size).toBe(n);
      for (const [, st] of loaded) expect(st).toMatchObject({ status: 'down', since: 2000 });
      const all = store.sqlite().prepare('SELECT check_name, to_status, at, reason FROM flips ORDER BY id').all() as Array<{ check_name: string; to_status: string; at: number; reason: string }>;
      expect(all).toHaveLength(2 * n);
      expect(all.map((f) => f.at)).toEqual([...Array.from({ length: n }, (_, i) => 1000 + i), ...Array.from({ length: n }, (_, i) => 2000 + i)]);
      expect(all.slice(n).every((f) => f.to_status === 'down')).toBe(true);
      if (n > 0) expect((await store.listFlips('c0', 1))[0]).toMatchObject({ to: 'down', reason: `r${Math.floor((n - 1) / 7) * 7}` }); // its newest
    } finally {
      await store.close();
    }
  });
});
