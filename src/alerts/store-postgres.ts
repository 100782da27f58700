/**
 * The AlertStore on PostgreSQL (tables created by the versioned migrations, src/store/migrations/).
 * Same behaviour as the SQLite store, plus `claim`: before a notification is sent, the leader takes
 * its outbox row with a conditional UPDATE that carries the leader lease's fencing token, so a replica
 * that lost the lease (paused, partitioned) cannot send it. At most one open incident per check is
 * enforced by a unique index, whichever replica writes.
 */
import type pg from 'pg';
import { fenceSql, LEASE_NAME, nowSql, type Fence } from '../ha/fence.ts';
import type { PgPool } from '../store/pg-pool.ts';
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

export class PostgresAlertStore implements AlertStore {
  constructor(
    private readonly db: PgPool,
    private readonly o: { fence?: Fence; leaseName?: string } = {},
  ) {}

  /** Tables come from the migrations (run once at start by createStores). */
  async init(): Promise<void> {}

  async commit(c: AlertCommit): Promise<void> {
    await this.db.tx(async (q) => {
      if (c.incident) await this.#upsertIncident(q, c.incident);
      for (const r of c.insert ?? []) await this.#insertRow(q, r);
      for (const u of c.update ?? []) for (const id of u.ids) await this.#update(q, id, u.set);
      for (const r of c.receipts ?? []) await this.#putReceipt(q, r.notifier, r.incidentId, r.receipt);
    }, 'committing alerts');
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
       VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)`,
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
   */
  async claim(id: string): Promise<boolean> {
    const fence = this.o.fence;
    if (!fence) {
      const r = await this.db.query(`SELECT 1 FROM alert_outbox WHERE id = $1 AND status = 'pending'`, [id], 'claiming a notification');
      return r.rowCount === 1;
    }
    const token = fence.token();
    if (token === undefined) return false;
    const r = await this.db.query(
      `UPDATE alert_outbox SET claimed_token = $3, claimed_at = ${nowSql(4)}
        WHERE id = $1 AND status = 'pending' AND ${fenceSql(2, 3, 4)}`,
      [id, this.o.leaseName ?? LEASE_NAME, token, fence.now() ?? null],
      'claiming a notification',
    );
    return r.rowCount === 1;
  }

  async getIncident(id: string): Promise<Incident | undefined> {
    const r = await this.db.query<{ data: Incident }>('SELECT data FROM alert_incidents WHERE id = $1', [id], 'reading an incident');
    return r.rows[0]?.data;
  }

  async findOpenIncident(check: string): Promise<Incident | undefined> {
    const r = await this.db.query<{ data: Incident }>(
      `SELECT data FROM alert_incidents WHERE check_name = $1 AND status IN ('open', 'acknowledged') ORDER BY opened_at DESC LIMIT 1`,
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
      where.push(`check_name = $${args.length}`);
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
