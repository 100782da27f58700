/**
 * The check-state store on PostgreSQL: each check's last saved state and every flip, the same
 * async interface as the SQLite store (src/store/sqlite.ts), one transaction per commit.
 * The pool is shared with the alert, probe and learn stores (src/store/index.ts builds them together).
 */
import type { Database } from 'better-sqlite3';
import type { CheckState, Flip } from '../checks/types.ts';
import { LEASE_NAME, NotLeaderError, nowSql, requireToken, type Fence } from '../ha/fence.ts';
import type { PgPool } from './pg-pool.ts';
import type { Store, StoredFlip } from './types.ts';

export class PostgresStore implements Store {
  constructor(
    readonly db: PgPool,
    private readonly o: { ownsPool?: boolean; now?: () => number; fence?: Fence; leaseName?: string } = {},
  ) {}

  async loadCheckStates(): Promise<Map<string, CheckState>> {
    const r = await this.db.query<{ name: string; state: CheckState }>('SELECT name, state FROM check_state', [], 'loading check states');
    return new Map(r.rows.map((row) => [row.name, row.state]));
  }

  async commit(states: Iterable<[string, CheckState]>, flips: readonly Flip[]): Promise<void> {
    const names: string[] = [];
    const docs: string[] = [];
    for (const [name, st] of states) {
      names.push(name);
      docs.push(JSON.stringify(st));
    }
    if (!names.length && !flips.length) return;
    const now = this.o.now?.() ?? Date.now();
    const fence = this.o.fence;
    // Only the leader writes check state: a replica that lost the lease must not overwrite the new leader's.
    const token = fence ? requireToken(fence, 'save check states') : undefined;
    await this.db.tx(async (c) => {
      if (fence) {
        const ok = await c.query(`SELECT 1 FROM qw_lease WHERE name = $1 AND token = $2 AND expires_at > ${nowSql(3)} FOR SHARE`, [this.o.leaseName ?? LEASE_NAME, token, fence.now() ?? null]);
        if (ok.rowCount !== 1) throw new NotLeaderError(`the leader lease moved on (token ${token} is stale): check states not saved`);
      }
      if (names.length) {
        // one statement for the whole batch; a name twice in one batch keeps the last state
        await c.query(
          `INSERT INTO check_state (name, state, updated_at)
           SELECT DISTINCT ON (name) name, state::jsonb, $3::bigint FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(name, state, i)
           ORDER BY name, i DESC
           ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
          [names, docs, now],
        );
      }
      if (flips.length) {
        await c.query(
          `INSERT INTO flips (check_name, from_status, to_status, at, reason)
           SELECT a, b, c, d, e FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[]) WITH ORDINALITY AS t(a, b, c, d, e, i)
           ORDER BY i`,
          [flips.map((f) => f.check), flips.map((f) => f.from), flips.map((f) => f.to), flips.map((f) => f.at), flips.map((f) => f.reason)],
        );
      }
    }, 'saving check states and flips');
  }

  async listFlips(check: string, limit: number): Promise<StoredFlip[]> {
    const r = await this.db.query<{ id: number; check_name: string; from_status: string; to_status: string; at: number; reason: string }>(
      'SELECT id, check_name, from_status, to_status, at, reason FROM flips WHERE check_name = $1 ORDER BY id DESC LIMIT $2',
      [check, limit],
      'listing flips',
    );
    return r.rows.map((row) => ({ id: row.id, check: row.check_name, from: row.from_status, to: row.to_status, at: row.at, reason: row.reason }) as StoredFlip);
  }

  async pruneFlips(before: number): Promise<number> {
    const r = await this.db.query('DELETE FROM flips WHERE at < $1', [before], 'pruning flips');
    return r.rowCount ?? 0;
  }

  async ping(): Promise<void> {
    await this.db.query('SELECT 1', [], 'pinging');
  }

  async close(): Promise<void> {
    if (this.o.ownsPool !== false) await this.db.end();
  }

  sqlite(): Database | undefined {
    return undefined;
  }
}
