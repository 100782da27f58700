/**
 * The service's SQLite writes on a writer thread (src/store/sqlite-writer.ts): a commit resolves
 * once it is in the file (the main connection reads it), a failed transaction rejects with the
 * SQLite code and writes nothing, a worker that cannot open the file rejects its writes and a later
 * one starts afresh, close() lets sent writes finish; the alert store's commits go the same way,
 * a storm's member commits sharing multi-row statements.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteAlertStore } from '../../src/alerts/store-sqlite.ts';
import type { Incident } from '../../src/alerts/types.ts';
import { initialState } from '../../src/checks/engine.ts';
import type { CheckState } from '../../src/checks/types.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { SqliteWriter } from '../../src/store/sqlite-writer.ts';
import { tempDir } from '../helpers/service.ts';

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const states = (n: number, status: CheckState['status']) => new Map(Array.from({ length: n }, (_, i) => [`check-${i}`, { ...initialState(1000), status }] as [string, CheckState]));

describe('SQLite writes on a writer thread', () => {
  it('a commit is in the file once it resolves: the main connection reads every state and flip', async () => {
    const store = new SqliteStore(join(dir, 'a.sqlite'), { writer: {} });
    try {
      expect(store.writer).toBeDefined();
      // 1,234 rows: 24 multi-row statements of 50 and 34 single rows, states and flips.
      const flips = Array.from({ length: 1234 }, (_, i) => ({ check: `check-${i}`, from: 'quiet' as const, to: 'down' as const, at: 5000 + i, reason: 'silent' }));
      await store.commit(states(1234, 'down'), flips);
      const loaded = await store.loadCheckStates();
      expect(loaded.size).toBe(1234);
      expect(loaded.get('check-1233')!.status).toBe('down');
      expect((await store.listFlips('check-1233', 5)).map((f) => f.at)).toEqual([6233]);
      // A later commit of the same key wins, in the order sent (not awaited one by one).
      await Promise.all([store.commit(states(10, 'quiet'), []), store.commit(states(10, 'ok'), [])]);
      expect((await store.loadCheckStates()).get('check-3')!.status).toBe('ok');
    } finally {
      await store.close();
    }
  });

  it('a failed transaction rejects with the SQLite code and writes none of it', async () => {
    const file = join(dir, 'b.sqlite');
    const store = new SqliteStore(file, { writer: {} });
    try {
      store.sqlite().exec('CREATE TABLE t (k TEXT PRIMARY KEY)');
      const w = store.writer!;
      await w.run([{ sql: 'INSERT INTO t (k) VALUES (?)', args: ['a'] }]);
      const err = await w.run([
        { sql: 'INSERT INTO t (k) VALUES (?)', args: ['b'] },
        { sql: 'INSERT INTO t (k) VALUES (?)', args: ['a'] }, // duplicate key
      ]).catch((e: Error & { code?: string }) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as { code?: string }).code).toBe('SQLITE_CONSTRAINT_PRIMARYKEY');
      expect((err as Error).message).toMatch(/UNIQUE constraint failed: t\.k/);
      expect(store.sqlite().prepare('SELECT k FROM t ORDER BY k').pluck().all()).toEqual(['a']);
      // The writer goes on after a failed transaction.
      await w.run([{ sql: 'INSERT INTO t (k) VALUES (?)', args: ['c'] }]);
      expect(store.sqlite().prepare('SELECT k FROM t ORDER BY k').pluck().all()).toEqual(['a', 'c']);
    } finally {
      await store.close();
    }
  });

  it('a worker that cannot open the file rejects its writes, says why, and a write a second later starts a new one', async () => {
    const errors: string[] = [];
    // The worker opens an existing file only (the store's connection creates it): here there is none.
    const missing = join(dir, 'nowhere', 'c.sqlite');
    const w = new SqliteWriter(missing, { onError: (m) => errors.push(m) });
    try {
      const err = await w.run([{ sql: 'SELECT 1', args: [] }]).catch((e: Error) => e);
      expect((err as Error).message).toMatch(/the SQLite writer cannot open .*nowhere\/c\.sqlite/);
      expect(errors.join('\n')).toMatch(/cannot open/);
      expect(w.pending).toBe(0);
      // Within the second: the same error, no new worker.
      await expect(w.run([{ sql: 'SELECT 1', args: [] }])).rejects.toThrow(/cannot open/);
      expect(errors).toHaveLength(1);
      // A second later a new worker tries again (and fails again here: the file is still missing).
      await new Promise((r) => setTimeout(r, 1_100));
      await expect(w.run([{ sql: 'SELECT 1', args: [] }])).rejects.toThrow(/cannot open/);
      expect(errors).toHaveLength(2);
    } finally {
      await w.close();
    }
  });

  it('close() lets the writes already sent finish', async () => {
    const file = join(dir, 'd.sqlite');
    const store = new SqliteStore(file, { writer: {} });
    const sent = [store.commit(states(3000, 'down'), []), store.commit(states(5, 'ok'), [])];
    await store.close();
    await Promise.all(sent);
    const db = new BetterSqlite3(file, { readonly: true });
    try {
      expect(db.prepare('SELECT count(*) FROM check_state').pluck().get()).toBe(3000);
      expect(JSON.parse(db.prepare("SELECT state FROM check_state WHERE name = 'check-4'").pluck().get() as string).status).toBe('ok');
    } finally {
      db.close();
    }
    await expect(store.writer!.run([])).rejects.toThrow(/closed/);
  });

  it("the alert store's commits go through it: a storm's 1,234 member commits, one incident row", async () => {
    const store = new SqliteStore(join(dir, 'e.sqlite'), { writer: {} });
    try {
      const alerts = new SqliteAlertStore(store.sqlite(), (ops) => store.write(ops));
      await alerts.init();
      const inc = { id: 'inc-1', check: 'check-0', status: 'open', openedAt: 1000, labels: {}, dedupKey: 'k', severity: 'critical', summary: 's', reason: 'r', details: {}, notifiers: [] } as unknown as Incident;
      const members = Array.from({ length: 1234 }, (_, i) => ({ members: [{ incidentId: 'inc-1', member: { check: `check-${i}`, labels: {}, status: 'down' as const, downAt: 1000 + i, reason: 'silent' } }] }));
      // A member removed in between, then written again: the later write wins.
      await alerts.commitAll([{ incident: inc }, ...members, { removeMembers: [{ incidentId: 'inc-1', check: 'check-7' }] }, members[7]!]);
      const got = await alerts.listMembers(['inc-1']);
      expect(got).toHaveLength(1234);
      expect(new Set(got.map((m) => m.member.check)).size).toBe(1234);
      expect((await alerts.getIncident('inc-1'))!.status).toBe('open');
      await alerts.updateOutbox('none', { status: 'delivered' }); // an update of no row is no error
    } finally {
      await store.close();
    }
  });
});
