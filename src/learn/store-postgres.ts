/** Learned models on PostgreSQL, one row per check (the `learn_models` table of the migrations). */
import type { PgPool } from '../store/pg-pool.ts';
import type { ModelState } from './model.ts';
import type { LearnStore } from './store-sqlite.ts';

export class PostgresLearnStore implements LearnStore {
  constructor(private readonly db: PgPool) {}

  async save(check: string, state: ModelState, at: number): Promise<void> {
    await this.db.query(
      `INSERT INTO learn_models (check_name, version, state, saved_at) VALUES ($1, $2, $3::jsonb, $4)
       ON CONFLICT (check_name) DO UPDATE SET version = excluded.version, state = excluded.state, saved_at = excluded.saved_at`,
      [check, state.v, JSON.stringify(state), at],
      'saving a learned model',
    );
  }

  async load(check: string): Promise<{ state: ModelState; savedAt: number } | null> {
    const r = await this.db.query<{ version: number; state: ModelState; saved_at: number }>(
      'SELECT version, state, saved_at FROM learn_models WHERE check_name = $1',
      [check],
      'loading a learned model',
    );
    const row = r.rows[0];
    if (!row || row.version !== 1) return null;
    return { state: row.state, savedAt: row.saved_at };
  }

  async delete(check: string): Promise<void> {
    await this.db.query('DELETE FROM learn_models WHERE check_name = $1', [check], 'deleting a learned model');
  }

  async list(): Promise<string[]> {
    const r = await this.db.query<{ check_name: string }>('SELECT check_name FROM learn_models ORDER BY check_name', [], 'listing learned models');
    return r.rows.map((row) => row.check_name);
  }
}
