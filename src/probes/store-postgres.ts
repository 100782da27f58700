/**
 * The ProbeStore on PostgreSQL. Beyond the SQLite store's behaviour, money safety across replicas:
 *
 *  - reserve(): "no probe of this check in flight" and every budget are checked and the record is
 *    inserted in ONE transaction, serialised by an advisory lock and carrying the leader's fencing
 *    token: two replicas (or an old leader and a new one) can never both spend the last unit of a
 *    budget, and a replica that lost the lease consumes nothing;
 *  - claimAttempt(): each charge attempt is recorded with a conditional UPDATE that carries the
 *    fencing token, just before the charge is sent: refused (LEASE_LOST) once the lease is lost.
 * Recording what happened (accepted, proven, lost, reversed) is never fenced: facts are kept
 * whoever learns them.
 */
import { fenceSql, LEASE_NAME, NotLeaderError, requireToken, type Fence } from '../ha/fence.ts';
import type { PgPool } from '../store/pg-pool.ts';
import type { BudgetLimit, ProbeRecord, ProbeStore, Reservation } from './store.ts';

const COLUMNS: Record<keyof ProbeRecord, string> = {
  id: 'id',
  check: 'check_name',
  reason: 'reason',
  driver: 'driver',
  idempotencyKey: 'idempotency_key',
  firedAt: 'fired_at',
  deadline: 'deadline',
  chargedAt: 'charged_at',
  result: 'result',
  latencyMs: 'latency_ms',
  reference: 'reference',
  costMinor: 'cost_minor',
  currency: 'currency',
  error: 'error',
  attempts: 'attempts',
  settledAt: 'settled_at',
  reversedAt: 'reversed_at',
  reversalError: 'reversal_error',
};
const KEYS = Object.keys(COLUMNS) as (keyof ProbeRecord)[];
const SELECT = `SELECT ${KEYS.map((k) => COLUMNS[k]).join(', ')} FROM probes`;

/** The advisory lock every budget reservation takes (one budget for the whole deployment). */
const BUDGET_LOCK = 0x71775f62; // "qw_b"

type Row = Record<string, string | number | null>;

function fromRow(row: Row): ProbeRecord {
  const rec: Record<string, unknown> = {};
  for (const k of KEYS) {
    const v = row[COLUMNS[k]];
    if (v !== null && v !== undefined) rec[k] = v;
  }
  return rec as unknown as ProbeRecord;
}

function columnsOf(rec: Partial<ProbeRecord>): { cols: string[]; vals: unknown[] } {
  const cols: string[] = [];
  const vals: unknown[] = [];
  for (const k of KEYS) {
    if (!(k in rec)) continue;
    cols.push(COLUMNS[k]);
    vals.push((rec[k] as unknown) ?? null);
  }
  return { cols, vals };
}

export class PostgresProbeStore implements ProbeStore {
  constructor(
    private readonly db: PgPool,
    private readonly o: { fence?: Fence; leaseName?: string } = {},
  ) {}

  async insert(rec: ProbeRecord): Promise<void> {
    const { cols, vals } = columnsOf(rec);
    await this.db.query(`INSERT INTO probes (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`, vals, 'saving a probe');
  }

  async update(id: string, patch: Partial<Omit<ProbeRecord, 'id'>>): Promise<void> {
    const { cols, vals } = columnsOf(patch);
    if (!cols.length) return;
    await this.db.query(`UPDATE probes SET ${cols.map((c, i) => `${c} = $${i + 1}`).join(', ')} WHERE id = $${cols.length + 1}`, [...vals, id], 'updating a probe');
  }

  async get(id: string): Promise<ProbeRecord | undefined> {
    const r = await this.db.query<Row>(`${SELECT} WHERE id = $1`, [id], 'reading a probe');
    return r.rows[0] ? fromRow(r.rows[0]) : undefined;
  }

  async list(q: { check?: string; limit?: number }): Promise<ProbeRecord[]> {
    const limit = Math.max(1, Math.min(q.limit ?? 50, 1000));
    const r =
      q.check !== undefined
        ? await this.db.query<Row>(`${SELECT} WHERE check_name = $1 ORDER BY fired_at DESC, id DESC LIMIT $2`, [q.check, limit], 'listing probes')
        : await this.db.query<Row>(`${SELECT} ORDER BY fired_at DESC, id DESC LIMIT $1`, [limit], 'listing probes');
    return r.rows.map(fromRow);
  }

  async countCharges(q: { check?: string; since: number }): Promise<number> {
    const r =
      q.check !== undefined
        ? await this.db.query<{ n: number }>(`SELECT count(*) AS n FROM probes WHERE check_name = $1 AND fired_at >= $2 AND result <> 'skipped-budget'`, [q.check, q.since], 'counting charges')
        : await this.db.query<{ n: number }>(`SELECT count(*) AS n FROM probes WHERE fired_at >= $1 AND result <> 'skipped-budget'`, [q.since], 'counting charges');
    return Number(r.rows[0]!.n);
  }

  async listPending(): Promise<ProbeRecord[]> {
    const r = await this.db.query<Row>(`${SELECT} WHERE result = 'pending' ORDER BY fired_at`, [], 'listing pending probes');
    return r.rows.map(fromRow);
  }

  async findInFlight(check: string, now: number): Promise<ProbeRecord | undefined> {
    const r = await this.db.query<Row>(
      `${SELECT} WHERE check_name = $1 AND result IN ('pending', 'accepted') AND deadline > $2 ORDER BY fired_at DESC LIMIT 1`,
      [check, now],
      'finding a probe in flight',
    );
    return r.rows[0] ? fromRow(r.rows[0]) : undefined;
  }

  async reserve(rec: ProbeRecord, limits: readonly BudgetLimit[], now: number): Promise<Reservation> {
    const fence = this.o.fence;
    const token = fence ? requireToken(fence, `charge for probe ${rec.id}`) : null;
    return this.db.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [BUDGET_LOCK]);
      if (fence) {
        // FOR SHARE: a takeover (which updates this row) waits until this reservation is committed
        const ok = await c.query(`SELECT 1 FROM qw_lease WHERE name = $1 AND token = $2 AND expires_at > COALESCE($3::bigint, (extract(epoch from clock_timestamp()) * 1000)::bigint) FOR SHARE`, [
          this.o.leaseName ?? LEASE_NAME,
          token,
          fence.now() ?? null,
        ]);
        if (ok.rowCount !== 1) throw new NotLeaderError(`the leader lease moved on (token ${token} is stale): probe ${rec.id} not charged, no budget used`);
      }
      const inFlight = await c.query<{ id: string }>(
        `SELECT id FROM probes WHERE check_name = $1 AND result IN ('pending', 'accepted') AND deadline > $2 ORDER BY fired_at DESC LIMIT 1`,
        [rec.check, now],
      );
      if (inFlight.rows[0]) return { kind: 'in-flight', other: inFlight.rows[0].id };
      for (const l of limits) {
        const r =
          l.scope === 'check'
            ? await c.query<{ n: number }>(`SELECT count(*) AS n FROM probes WHERE check_name = $1 AND fired_at >= $2 AND result <> 'skipped-budget'`, [rec.check, l.since])
            : await c.query<{ n: number }>(`SELECT count(*) AS n FROM probes WHERE fired_at >= $1 AND result <> 'skipped-budget'`, [l.since]);
        const used = Number(r.rows[0]!.n);
        if (used >= l.limit) {
          const breach = { scope: l.scope, window: l.window, limit: l.limit, used };
          const skipped: ProbeRecord = { ...rec, result: 'skipped-budget', costMinor: 0, error: `${l.scope} budget exhausted: ${used}/${l.limit} charges per ${l.window}` };
          await this.#insertFenced(c, skipped, token);
          return { kind: 'budget', rec: skipped, breach };
        }
      }
      await this.#insertFenced(c, rec, token);
      return { kind: 'reserved' };
    }, 'reserving a probe budget');
  }

  async #insertFenced(c: { query: (t: string, v: unknown[]) => Promise<unknown> }, rec: ProbeRecord, token: number | null): Promise<void> {
    const { cols, vals } = columnsOf(rec);
    cols.push('fence_token');
    vals.push(token);
    await c.query(`INSERT INTO probes (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`, vals);
  }

  async claimAttempt(id: string, patch: { attempts: number; chargedAt: number }): Promise<void> {
    const fence = this.o.fence;
    if (!fence) return this.update(id, patch);
    const token = requireToken(fence, `charge for probe ${id}`);
    const r = await this.db.query(
      `UPDATE probes SET attempts = $2, charged_at = $3, fence_token = $5
        WHERE id = $1 AND ${fenceSql(4, 5, 6)}`,
      [id, patch.attempts, patch.chargedAt, this.o.leaseName ?? LEASE_NAME, token, fence.now() ?? null],
      'claiming a charge attempt',
    );
    if (r.rowCount !== 1) throw new NotLeaderError(`the leader lease moved on (token ${token} is stale): charge attempt ${patch.attempts} of probe ${id} not sent`);
  }
}
