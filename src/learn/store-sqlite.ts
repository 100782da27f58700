/**
 * Persistence of learned models, one row per check, in this module's own table on the shared
 * better-sqlite3 handle. Behind a small async interface so a PostgreSQL store can replace it.
 */
import type Database from 'better-sqlite3';
import type { ModelState } from './model.ts';

export interface LearnStore {
  save(check: string, state: ModelState, at: number): Promise<void>;
  load(check: string): Promise<{ state: ModelState; savedAt: number } | null>;
  delete(check: string): Promise<void>;
  list(): Promise<string[]>;
}

export class SqliteLearnStore implements LearnStore {
  private readonly put: Database.Statement;
  private readonly get: Database.Statement;
  private readonly del: Database.Statement;
  private readonly all: Database.Statement;

  constructor(db: Database.Database) {
    db.exec(`CREATE TABLE IF NOT EXISTS learn_models (
      check_name TEXT PRIMARY KEY,
      version INTEGER NOT NULL,
      state TEXT NOT NULL,
      saved_at INTEGER NOT NULL
    )`);
    this.put = db.prepare(
      `INSERT INTO learn_models (check_name, version, state, saved_at) VALUES (?, ?, ?, ?)
       ON CONFLICT(check_name) DO UPDATE SET version = excluded.version, state = excluded.state, saved_at = excluded.saved_at`,
    );
    this.get = db.prepare('SELECT version, state, saved_at FROM learn_models WHERE check_name = ?');
    this.del = db.prepare('DELETE FROM learn_models WHERE check_name = ?');
    this.all = db.prepare('SELECT check_name FROM learn_models ORDER BY check_name');
  }

  async save(check: string, state: ModelState, at: number): Promise<void> {
    this.put.run(check, state.v, JSON.stringify(state), at);
  }

  async load(check: string): Promise<{ state: ModelState; savedAt: number } | null> {
    const row = this.get.get(check) as { version: number; state: string; saved_at: number } | undefined;
    if (!row || row.version !== 1) return null;
    return { state: JSON.parse(row.state) as ModelState, savedAt: row.saved_at };
  }

  async delete(check: string): Promise<void> {
    this.del.run(check);
  }

  async list(): Promise<string[]> {
    return (this.all.all() as Array<{ check_name: string }>).map((r) => r.check_name);
  }
}
