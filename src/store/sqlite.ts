import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import type { CheckState, Flip } from '../checks/types.ts';
import type { Store, StoredFlip } from './types.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS check_state (
  name TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS flips (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  check_name TEXT NOT NULL,
  from_status TEXT NOT NULL,
  to_status TEXT NOT NULL,
  at INTEGER NOT NULL,
  reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS flips_by_check ON flips (check_name, id);
CREATE INDEX IF NOT EXISTS flips_by_time ON flips (at);
`;

export class SqliteStore implements Store {
  readonly db: Database;
  private readonly upsertState;
  private readonly insertFlip;
  private readonly selectFlips;
  private readonly tx;

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new BetterSqlite3(path);
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a committed transaction survives a process crash (SIGKILL); only an OS
    // crash or power loss can lose the last transactions.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    this.upsertState = this.db.prepare(
      'INSERT INTO check_state (name, state, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at',
    );
    this.insertFlip = this.db.prepare('INSERT INTO flips (check_name, from_status, to_status, at, reason) VALUES (?, ?, ?, ?, ?)');
    this.selectFlips = this.db.prepare('SELECT id, check_name, from_status, to_status, at, reason FROM flips WHERE check_name = ? ORDER BY id DESC LIMIT ?');
    this.tx = this.db.transaction((states: Iterable<[string, CheckState]>, flips: readonly Flip[]) => {
      const now = Date.now();
      for (const [name, st] of states) this.upsertState.run(name, JSON.stringify(st), now);
      for (const f of flips) this.insertFlip.run(f.check, f.from, f.to, f.at, f.reason);
    });
  }

  async loadCheckStates(): Promise<Map<string, CheckState>> {
    const rows = this.db.prepare('SELECT name, state FROM check_state').all() as { name: string; state: string }[];
    return new Map(rows.map((r) => [r.name, JSON.parse(r.state) as CheckState]));
  }

  async commit(states: Iterable<[string, CheckState]>, flips: readonly Flip[]): Promise<void> {
    this.tx(states, flips);
  }

  async listFlips(check: string, limit: number): Promise<StoredFlip[]> {
    const rows = this.selectFlips.all(check, limit) as { id: number; check_name: string; from_status: string; to_status: string; at: number; reason: string }[];
    return rows.map((r) => ({ id: r.id, check: r.check_name, from: r.from_status, to: r.to_status, at: r.at, reason: r.reason }) as StoredFlip);
  }

  async pruneFlips(before: number): Promise<number> {
    return this.db.prepare('DELETE FROM flips WHERE at < ?').run(before).changes;
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  sqlite(): Database {
    return this.db;
  }
}
