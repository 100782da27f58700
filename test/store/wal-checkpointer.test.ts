/**
 * The service's SQLite store checkpoints its WAL on a worker thread (src/store/wal-checkpointer.ts):
 * its own transactions never copy the log back, the log is still copied into the database file, a
 * worker that fails gives the connection its auto-checkpoints back, and close() stops it cleanly.
 */
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { initialState } from '../../src/checks/engine.ts';
import type { CheckState } from '../../src/checks/types.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { tempDir } from '../helpers/service.ts';

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const until = async (ok: () => boolean, ms = 5_000) => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};
const states = (n: number, status: CheckState['status']) => new Map(Array.from({ length: n }, (_, i) => [`check-${i}`, { ...initialState(1000), status }] as [string, CheckState]));
const autoPages = (s: SqliteStore) => s.sqlite().pragma('wal_autocheckpoint', { simple: true });

describe('WAL checkpoints on a worker thread', () => {
  it('the connection stops checkpointing in its commits, and the worker copies the log into the file', async () => {
    const file = join(dir, 'worker.sqlite');
    const errors: string[] = [];
    const store = new SqliteStore(file, { checkpointWorker: { everyMs: 20, onError: (m) => errors.push(m) } });
    try {
      expect(autoPages(store)).toBe(1000); // until the worker has opened the file
      await until(() => store.checkpointer!.active);
      expect(autoPages(store)).toBe(0);
      const before = statSync(file).size;
      for (let k = 0; k < 10; k++) await store.commit(states(2000, k % 2 ? 'down' : 'quiet'), []);
      // The database file itself grows only by checkpoints: the worker made them.
      await until(() => statSync(file).size > before + 200_000);
      expect((await store.loadCheckStates()).size).toBe(2000);
      expect(errors).toEqual([]);
    } finally {
      await store.close();
    }
    // Closed cleanly: everything is there on reopening (no worker this time).
    const again = new SqliteStore(file);
    try {
      const loaded = await again.loadCheckStates();
      expect(loaded.size).toBe(2000);
      expect([...loaded.values()].every((s) => s.status === 'down')).toBe(true);
    } finally {
      await again.close();
    }
  });

  it('without the worker nothing changes: SQLite checkpoints in the commits (auto-checkpoint 1,000 pages)', async () => {
    const store = new SqliteStore(join(dir, 'plain.sqlite'));
    try {
      expect(store.checkpointer).toBeUndefined();
      expect(autoPages(store)).toBe(1000);
    } finally {
      await store.close();
    }
  });

  it('a worker that cannot start gives the connection its auto-checkpoints back and says why', async () => {
    const errors: { message: string; fatal: boolean }[] = [];
    const store = new SqliteStore(join(dir, 'broken.sqlite'), {
      checkpointWorker: { driver: join(dir, 'no-such-driver.js'), onError: (message, fatal) => errors.push({ message, fatal }) },
    });
    try {
      await until(() => errors.some((e) => e.fatal));
      expect(errors.map((e) => e.message).join('\n')).toMatch(/no-such-driver/);
      expect(store.checkpointer!.active).toBe(false);
      expect(autoPages(store)).toBe(1000);
      // The store works on, checkpointing itself.
      await store.commit(states(10, 'down'), []);
      expect((await store.loadCheckStates()).size).toBe(10);
    } finally {
      await store.close();
    }
  });

  it('the connection closed before the worker is ready (a lost disk, a shutdown): no exception, the worker stops', async () => {
    const errors: string[] = [];
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    try {
      const store = new SqliteStore(join(dir, 'closed.sqlite'), { checkpointWorker: { everyMs: 20, onError: (m) => errors.push(m) } });
      store.sqlite().close(); // before the worker's 'ready' arrives
      await new Promise((r) => setTimeout(r, 300));
      expect(store.checkpointer!.active).toBe(false);
      await store.close();
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });

  it('an in-memory store has no worker', async () => {
    const store = new SqliteStore(':memory:', { checkpointWorker: {} });
    try {
      expect(store.checkpointer).toBeUndefined();
    } finally {
      await store.close();
    }
  });
});
