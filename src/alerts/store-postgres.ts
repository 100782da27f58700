/**
 * The AlertStore on PostgreSQL (tables created by the versioned migrations, src/store/migrations/).
 * Same behaviour as the SQLite store, plus `claim`: before a notification is sent, the leader takes
 * its outbox row with a conditional UPDATE that carries the leader lease's fencing token, so a replica
 * that lost the lease (paused, partitioned) cannot send it. At most one open incident per check is
 * enforced by a unique index, whichever replica writes.
 */
import type pg from 'pg';
import { LEASE_NAME, nowSql, type Fence } from '../ha/fence.ts';
import { isConnectionError, type PgPool } from '../store/pg-pool.ts';
import type { AlertCommit, AlertStore, NewOutboxRow, OutboxRow, OutboxStatus, OutboxUpdate } from './outbox.ts';
import type { Incident, Receipt, Silence } from './types.ts';

interface OutboxDbRow {
  seq: number;
  id: string;
  notifier: string;
  incident_id: string | null;
  notification: OutboxRow['notification'];
  status: OutboxStatus;
  attempts: number;
  next_attempt_at: number;
  created_at: number;
  delivered_at: number | null;
  last_error_code: string | null;
  last_error: string | null;
  permanent: boolean;
}

function toRow(r: OutboxDbRow): OutboxRow {
  const row: OutboxRow = {
    seq: r.seq,
    id: r.id,
    notifier: r.notifier,
    notification: r.notification,
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    createdAt: r.created_at,
  };
  if (r.incident_id !== null) row.incidentId = r.incident_id;
  if (r.delivered_at !== null) row.deliveredAt = r.delivered_at;
  if (r.last_error_code !== null) row.lastErrorCode = r.last_error_code;
  if (r.last_error !== null) row.lastError = r.last_error;
  if (r.permanent) row.permanent = true;
  return row;
}

const COLUMNS: Record<keyof OutboxUpdate, string> = {
  status: 'status',
  attempts: 'attempts',
  nextAttemptAt: 'next_attempt_at',
  deliveredAt: 'delivered_at',
  lastErrorCode: 'last_error_code',
  lastError: 'last_error',
  permanent: 'permanent',
};

const OUTBOX_COLS = 'seq, id, notifier, incident_id, notification, status, attempts, next_attempt_at, created_at, delivered_at, last_error_code, last_error, permanent';

type Q = Pick<pg.PoolClient, 'query'>;

// Grouped incidents (members, batches of commits) are read off the AlertCommit / AlertStore types
// themselves, so this file follows the interface as it grows.
type CommitMembers = AlertCommit extends { members?: infer M } ? NonNullable<M> : never[];
type Member = CommitMembers extends Array<{ member: infer X }> ? X : never;
type Outcome = AlertStore extends { latestOutcomes(): Promise<Array<infer O>> } ? O : never;
interface FullCommit extends AlertCommit {
  incidents?: Incident[];
  members?: { incidentId: string; member: Member }[];
  removeMembers?: { incidentId: string; check: string }[];
}

export class PostgresAlertStore implements AlertStore {
  constructor(
    private readonly db: PgPool,
    private readonly o: { fence?: Fence; leaseName?: string } = {},
  ) {}

  /** Tables come from the migrations (run once at start by createStores). */
  async init(): Promise<void> {}

  async commit(c: AlertCommit): Promise<void> {
    return this.commitAll([c]);
  }

  /** Every commit, in order, in ONE transaction. */
  async commitAll(cs: readonly AlertCommit[]): Promise<void> {
    if (!cs.length) return;
    await this.db.tx(async (q) => {
      for (const c of cs as readonly FullCommit[]) {
        if (c.incident) await this.#upsertIncident(q, c.incident);
        for (const i of c.incidents ?? []) await this.#upsertIncident(q, i);
        for (const m of c.removeMembers ?? []) await q.query('DELETE FROM alert_members WHERE incident_id = $1 AND check_name = $2', [m.incidentId, m.check]);
        for (const m of c.members ?? []) {
          const member = m.member as unknown as { check: string; status: string };
          await q.query(
            `INSERT INTO alert_members (incident_id, check_name, status, data) VALUES ($1, $2, $3, $4::jsonb)
             ON CONFLICT (incident_id, check_name) DO UPDATE SET status = excluded.status, data = excluded.data`,
            [m.incidentId, member.check, member.status, JSON.stringify(member)],
          );
        }
        for (const r of c.insert ?? []) await this.#insertRow(q, r);
        for (const u of c.update ?? []) for (const id of u.ids) await this.#update(q, id, u.set);
        for (const r of c.receipts ?? []) await this.#putReceipt(q, r.notifier, r.incidentId, r.receipt);
      }
    }, 'committing alerts');
  }

  async listOpenIncidents(): Promise<Incident[]> {
    const r = await this.db.query<{ data: Incident }>(`SELECT data FROM alert_incidents WHERE status IN ('open', 'acknowledged') ORDER BY opened_at`, [], 'listing open incidents');
    return r.rows.map((row) => row.data);
  }

  async listMembers(incidentIds: readonly string[]): Promise<{ incidentId: string; member: Member }[]> {
    if (!incidentIds.length) return [];
    const r = await this.db.query<{ incident_id: string; data: Member }>(
      'SELECT incident_id, data FROM alert_members WHERE incident_id = ANY($1::text[]) ORDER BY incident_id, check_name',
      [incidentIds],
      'listing incident members',
    );
    return r.rows.map((row) => ({ incidentId: row.incident_id, member: row.data }));
  }

  async latestOutcomes(): Promise<Outcome[]> {
    const r = await this.db.query<{ notifier: string; status: 'delivered' | 'failed'; permanent: boolean; last_error_code: string | null; last_error: string | null; delivered_at: number | null; next_attempt_at: number }>(
      `SELECT DISTINCT ON (notifier) notifier, status, permanent, last_error_code, last_error, delivered_at, next_attempt_at
         FROM alert_outbox WHERE status IN ('delivered', 'failed') ORDER BY notifier, seq DESC`,
      [],
      'reading notifier outcomes',
    );
    return r.rows.map(
      (row) =>
        ({
          notifier: row.notifier,
          status: row.status,
          permanent: row.permanent,
          ...(row.last_error_code !== null ? { code: row.last_error_code } : {}),
          ...(row.last_error !== null ? { message: row.last_error } : {}),
          at: row.delivered_at ?? row.next_attempt_at,
        }) as unknown as Outcome,
    );
  }

  async #upsertIncident(q: Q, i: Incident): Promise<void> {
    await q.query(
      `INSERT INTO alert_incidents (id, check_name, status, opened_at, data) VALUES ($1, $2, $3, $4, $5::jsonb)
       ON CONFLICT (id) DO UPDATE SET status = excluded.status, data = excluded.data`,
      [i.id, i.check, i.status, i.openedAt, JSON.stringify(i)],
    );
  }

  async #insertRow(q: Q, r: NewOutboxRow): Promise<void> {
    await q.query(
      `INSERT INTO alert_outbox (id, notifier, incident_id, notification, status, next_attempt_at, created_at)
       VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
      [r.id, r.notifier, r.incidentId ?? null, JSON.stringify(r.notification), r.status, r.nextAttemptAt, r.createdAt],
    );
  }

  async #update(q: Q, id: string, set: OutboxUpdate): Promise<void> {
    const keys = (Object.keys(set) as (keyof OutboxUpdate)[]).filter((k) => set[k] !== undefined);
    if (!keys.length) return;
    const sql = `UPDATE alert_outbox SET ${keys.map((k, i) => `${COLUMNS[k]} = $${i + 1}`).join(', ')} WHERE id = $${keys.length + 1}`;
    await q.query(sql, [...keys.map((k) => set[k]), id]);
  }

  /**
   * Take a pending row for sending: a conditional UPDATE that also requires this replica's fencing
   * token to be the lease's current one and the lease not to have lapsed. False: do not send (the row
   * is no longer pending, or this replica does not lead). Without a fence (one replica) always true
   * for a pending row.
   *  - a row not stored yet (the alert store was failing: pages go out from memory) is sent while the
   *    lease holds;
   *  - the database unreachable: sent while this replica still believes it leads (its local lease
   *    validity ends before any other replica may take over), so the leader keeps paging from memory.
   */
  async claim(id: string): Promise<boolean> {
    const fence = this.o.fence;
    if (!fence) {
      const r = await this.db.query(`SELECT 1 FROM alert_outbox WHERE id = $1 AND status = 'pending'`, [id], 'claiming a notification');
      return r.rowCount === 1;
    }
    const token = fence.token();
    if (token === undefined) return false;
    try {
      const r = await this.db.query<{ claimed: boolean; leading: boolean; present: boolean }>(
        `WITH f AS (SELECT 1 FROM qw_lease WHERE name = $2 AND token = $3::bigint AND expires_at > ${nowSql(4)}),
              u AS (UPDATE alert_outbox SET claimed_token = $3, claimed_at = ${nowSql(4)}
                     WHERE id = $1 AND status = 'pending' AND EXISTS (SELECT 1 FROM f) RETURNING 1)
         SELECT EXISTS (SELECT 1 FROM u) AS claimed, EXISTS (SELECT 1 FROM f) AS leading,
                EXISTS (SELECT 1 FROM alert_outbox WHERE id = $1) AS present`,
        [id, this.o.leaseName ?? LEASE_NAME, token, fence.now() ?? null],
        'claiming a notification',
      );
      const row = r.rows[0]!;
      return row.claimed || (row.leading && !row.present);
    } catch (err) {
      if (isConnectionError(err)) return fence.token() !== undefined;
      throw err;
    }
  }

  async getIncident(id: string): Promise<Incident | undefined> {
    const r = await this.db.query<{ data: Incident }>('SELECT data FROM alert_incidents WHERE id = $1', [id], 'reading an incident');
    return r.rows[0]?.data;
  }

  async findOpenIncident(check: string): Promise<Incident | undefined> {
    // a member of an open incident, else (incidents stored before members were kept) its first check
    const r = await this.db.query<{ data: Incident }>(
      `SELECT data FROM (
         SELECT i.data, i.opened_at, 0 AS pref FROM alert_members m JOIN alert_incidents i ON i.id = m.incident_id
          WHERE m.check_name = $1 AND i.status IN ('open', 'acknowledged')
         UNION ALL
         SELECT data, opened_at, 1 FROM alert_incidents WHERE check_name = $1 AND status IN ('open', 'acknowledged')
       ) x ORDER BY pref, opened_at DESC LIMIT 1`,
      [check],
      'reading open incidents',
    );
    return r.rows[0]?.data;
  }

  async listIncidents(q: { open?: boolean; check?: string; limit?: number } = {}): Promise<Incident[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.open === true) where.push(`status IN ('open', 'acknowledged')`);
    if (q.open === false) where.push(`status = 'resolved'`);
    if (q.check) {
      args.push(q.check);
      where.push(`(check_name = $${args.length} OR id IN (SELECT incident_id FROM alert_members WHERE check_name = $${args.length}))`);
    }
    args.push(q.limit ?? 500);
    const sql = `SELECT data FROM alert_incidents ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY opened_at DESC LIMIT $${args.length}`;
    const r = await this.db.query<{ data: Incident }>(sql, args, 'listing incidents');
    return r.rows.map((row) => row.data);
  }

  async listOutbox(q: { status?: OutboxStatus[]; incidentId?: string; notifier?: string; limit?: number } = {}): Promise<OutboxRow[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.status?.length) {
      args.push(q.status);
      where.push(`status = ANY($${args.length}::text[])`);
    }
    if (q.incidentId) {
      args.push(q.incidentId);
      where.push(`incident_id = $${args.length}`);
    }
    if (q.notifier) {
      args.push(q.notifier);
      where.push(`notifier = $${args.length}`);
    }
    args.push(q.limit ?? 100_000);
    const sql = `SELECT ${OUTBOX_COLS} FROM alert_outbox ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT $${args.length}`;
    const r = await this.db.query<OutboxDbRow>(sql, args, 'listing the outbox');
    return r.rows.map(toRow);
  }

  async updateOutbox(id: string, set: OutboxUpdate): Promise<void> {
    try {
      await this.#update(this.db.pool, id, set);
    } catch (err) {
      throw this.db.wrap(err, 'updating the outbox');
    }
  }

  async getReceipt(notifier: string, incidentId: string): Promise<Receipt | undefined> {
    const r = await this.db.query<{ receipt: Receipt }>('SELECT receipt FROM alert_receipts WHERE notifier = $1 AND incident_id = $2', [notifier, incidentId], 'reading a receipt');
    return r.rows[0]?.receipt;
  }

  async putReceipt(notifier: string, incidentId: string, receipt: Receipt): Promise<void> {
    try {
      await this.#putReceipt(this.db.pool, notifier, incidentId, receipt);
    } catch (err) {
      throw this.db.wrap(err, 'saving a receipt');
    }
  }

  async #putReceipt(q: Q, notifier: string, incidentId: string, receipt: Receipt): Promise<void> {
    await q.query(
      `INSERT INTO alert_receipts (notifier, incident_id, receipt) VALUES ($1, $2, $3::jsonb)
       ON CONFLICT (notifier, incident_id) DO UPDATE SET receipt = excluded.receipt`,
      [notifier, incidentId, JSON.stringify(receipt)],
    );
  }

  async insertSilence(s: Silence): Promise<void> {
    await this.db.query('INSERT INTO alert_silences (id, starts_at, ends_at, data) VALUES ($1, $2, $3, $4::jsonb)', [s.id, s.startsAt, s.endsAt, JSON.stringify(s)], 'saving a silence');
  }

  async listSilences(): Promise<Silence[]> {
    const r = await this.db.query<{ data: Silence }>('SELECT data FROM alert_silences ORDER BY starts_at', [], 'listing silences');
    return r.rows.map((row) => row.data);
  }

  async deleteSilence(id: string): Promise<boolean> {
    const r = await this.db.query('DELETE FROM alert_silences WHERE id = $1', [id], 'deleting a silence');
    return (r.rowCount ?? 0) > 0;
  }
}
