/**
 * The AlertStore on the shared better-sqlite3 handle. Owns the `alert_*` tables. Reads run on the
 * handle; writes are built as ops and run by `write` — the service's SQLite writer thread
 * (src/store/sqlite-writer.ts), or by default one transaction on the handle itself.
 */
import type { Database, Statement } from 'better-sqlite3';
import { placeholders, rowsOp } from '../store/sqlite-chunked.ts';
import { transactionOf, type WriteOp } from '../store/write-ops.cjs';
import type { Member } from './grouping.ts';
import type { AlertCommit, AlertStore, NewOutboxRow, NotifierOutcome, OutboxRow, OutboxStatus, OutboxUpdate } from './outbox.ts';
import type { Incident, Receipt, Silence } from './types.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS alert_incidents (
  id TEXT PRIMARY KEY,
  check_name TEXT NOT NULL,
  status TEXT NOT NULL,
  opened_at INTEGER NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_incidents_check ON alert_incidents (check_name, status);
CREATE INDEX IF NOT EXISTS alert_incidents_opened ON alert_incidents (opened_at);
CREATE TABLE IF NOT EXISTS alert_outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  notifier TEXT NOT NULL,
  incident_id TEXT,
  notification TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  delivered_at INTEGER,
  last_error_code TEXT,
  last_error TEXT,
  permanent INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS alert_outbox_status ON alert_outbox (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS alert_outbox_incident ON alert_outbox (incident_id);
CREATE TABLE IF NOT EXISTS alert_receipts (
  notifier TEXT NOT NULL,
  incident_id TEXT NOT NULL,
  receipt TEXT NOT NULL,
  PRIMARY KEY (notifier, incident_id)
);
CREATE TABLE IF NOT EXISTS alert_members (
  incident_id TEXT NOT NULL,
  check_name TEXT NOT NULL,
  status TEXT NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (incident_id, check_name)
);
CREATE INDEX IF NOT EXISTS alert_members_check ON alert_members (check_name);
CREATE INDEX IF NOT EXISTS alert_outbox_notifier ON alert_outbox (notifier, status, seq);
CREATE TABLE IF NOT EXISTS alert_silences (
  id TEXT PRIMARY KEY,
  starts_at INTEGER NOT NULL,
  ends_at INTEGER NOT NULL,
  data TEXT NOT NULL
);
`;

const UPSERT_MEMBERS = (rows?: number) =>
  `INSERT INTO alert_members (incident_id, check_name, status, data) VALUES ${placeholders(4, rows)}
   ON CONFLICT (incident_id, check_name) DO UPDATE SET status = excluded.status, data = excluded.data`;
const UPSERT_MEMBERS_MANY = UPSERT_MEMBERS();
const UPSERT_MEMBER = UPSERT_MEMBERS(1);

interface OutboxDbRow {
  seq: number;
  id: string;
  notifier: string;
  incident_id: string | null;
  notification: string;
  status: OutboxStatus;
  attempts: number;
  next_attempt_at: number;
  created_at: number;
  delivered_at: number | null;
  last_error_code: string | null;
  last_error: string | null;
  permanent: number;
}

function toRow(r: OutboxDbRow): OutboxRow {
  const row: OutboxRow = {
    seq: r.seq,
    id: r.id,
    notifier: r.notifier,
    notification: JSON.parse(r.notification),
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

const UPSERT_INCIDENT = `INSERT INTO alert_incidents (id, check_name, status, opened_at, data) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET status = excluded.status, data = excluded.data`;
const DELETE_MEMBER = 'DELETE FROM alert_members WHERE incident_id = ? AND check_name = ?';
const INSERT_OUTBOX = `INSERT INTO alert_outbox (id, notifier, incident_id, notification, status, next_attempt_at, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`;
const PUT_RECEIPT = `INSERT INTO alert_receipts (notifier, incident_id, receipt) VALUES (?, ?, ?)
       ON CONFLICT (notifier, incident_id) DO UPDATE SET receipt = excluded.receipt`;

export type WriteOps = (ops: readonly WriteOp[]) => Promise<void>;

export class SqliteAlertStore implements AlertStore {
  #ready = false;
  readonly #stmts = new Map<string, Statement>();
  readonly #write: WriteOps;

  constructor(
    private readonly db: Database,
    write?: WriteOps,
  ) {
    if (write) this.#write = write;
    else {
      const tx = transactionOf(db);
      this.#write = async (ops) => tx(ops);
    }
  }

  async init(): Promise<void> {
    this.#init();
  }
  #init(): void {
    if (this.#ready) return;
    this.db.exec(SCHEMA);
    this.#ready = true;
  }

  /** Prepared once per SQL text (a storm runs the same few statements thousands of times). */
  #stmt(sql: string): Statement {
    let s = this.#stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.#stmts.set(sql, s);
    }
    return s;
  }

  async commit(c: AlertCommit): Promise<void> {
    return this.commitAll([c]);
  }

  async commitAll(cs: readonly AlertCommit[]): Promise<void> {
    this.#init();
    const ops: WriteOp[] = [];
    for (const c of cs) this.#apply(c, ops);
    return this.#write(ops);
  }

  #apply(c: AlertCommit, ops: WriteOp[]): void {
    if (c.incident) ops.push(incidentOp(c.incident));
    for (const i of c.incidents ?? []) ops.push(incidentOp(i));
    for (const m of c.removeMembers ?? []) ops.push({ sql: DELETE_MEMBER, args: [m.incidentId, m.check] });
    // A storm's members, many rows to a statement (one statement per member was a tenth of a
    // 100,000-check storm's alerting); a member written twice ends with its later version. A storm
    // comes as one commit per member: those in a row share one op (nothing else comes in between).
    if (c.members?.length) {
      const last = ops[ops.length - 1];
      const op = last?.many === UPSERT_MEMBERS_MANY ? last : rowsOp(UPSERT_MEMBER, UPSERT_MEMBERS_MANY, 4);
      if (op !== last) ops.push(op);
      for (const m of c.members) op.args.push(m.incidentId, m.member.check, m.member.status, JSON.stringify(m.member));
    }
    for (const r of c.insert ?? []) {
      ops.push({ sql: INSERT_OUTBOX, args: [r.id, r.notifier, r.incidentId ?? null, JSON.stringify(r.notification), r.status, r.nextAttemptAt, r.createdAt] });
    }
    for (const u of c.update ?? []) for (const id of u.ids) {
      const op = updateOp(id, u.set);
      if (op) ops.push(op);
    }
    for (const r of c.receipts ?? []) ops.push(receiptOp(r.notifier, r.incidentId, r.receipt));
  }

  async listOpenIncidents(): Promise<Incident[]> {
    this.#init();
    const rows = this.#stmt(`SELECT data FROM alert_incidents WHERE status IN ('open', 'acknowledged') ORDER BY opened_at`).all() as { data: string }[];
    return rows.map((r) => JSON.parse(r.data));
  }

  async listMembers(incidentIds: readonly string[]): Promise<{ incidentId: string; member: Member }[]> {
    this.#init();
    const out: { incidentId: string; member: Member }[] = [];
    const q = this.#stmt('SELECT incident_id, data FROM alert_members WHERE incident_id = ?');
    for (const id of incidentIds) {
      for (const r of q.all(id) as { incident_id: string; data: string }[]) out.push({ incidentId: r.incident_id, member: JSON.parse(r.data) });
    }
    return out;
  }

  async latestOutcomes(): Promise<NotifierOutcome[]> {
    this.#init();
    const rows = this.#stmt(
      `SELECT o.notifier, o.status, o.permanent, o.last_error_code, o.last_error, o.delivered_at, o.next_attempt_at FROM alert_outbox o
       JOIN (SELECT notifier, MAX(seq) AS seq FROM alert_outbox WHERE status IN ('delivered', 'failed') GROUP BY notifier) l ON l.seq = o.seq`,
    ).all() as { notifier: string; status: 'delivered' | 'failed'; permanent: number; last_error_code: string | null; last_error: string | null; delivered_at: number | null; next_attempt_at: number }[];
    return rows.map((r) => ({
      notifier: r.notifier,
      status: r.status,
      permanent: r.permanent === 1,
      ...(r.last_error_code !== null ? { code: r.last_error_code } : {}),
      ...(r.last_error !== null ? { message: r.last_error } : {}),
      at: r.delivered_at ?? r.next_attempt_at,
    }));
  }

  async getIncident(id: string): Promise<Incident | undefined> {
    this.#init();
    const r = this.db.prepare('SELECT data FROM alert_incidents WHERE id = ?').get(id) as { data: string } | undefined;
    return r ? JSON.parse(r.data) : undefined;
  }

  async findOpenIncident(check: string): Promise<Incident | undefined> {
    this.#init();
    const r = this.#stmt(
      `SELECT i.data FROM alert_members m JOIN alert_incidents i ON i.id = m.incident_id
       WHERE m.check_name = ? AND i.status IN ('open', 'acknowledged') ORDER BY i.opened_at DESC LIMIT 1`,
    ).get(check) as { data: string } | undefined;
    if (!r) {
      // Incidents stored before members were kept have only their check.
      const legacy = this.#stmt(
        `SELECT data FROM alert_incidents WHERE check_name = ? AND status IN ('open', 'acknowledged') ORDER BY opened_at DESC LIMIT 1`,
      ).get(check) as { data: string } | undefined;
      return legacy ? JSON.parse(legacy.data) : undefined;
    }
    return r ? JSON.parse(r.data) : undefined;
  }

  async listIncidents(q: { open?: boolean; check?: string; limit?: number } = {}): Promise<Incident[]> {
    this.#init();
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.open === true) where.push(`status IN ('open', 'acknowledged')`);
    if (q.open === false) where.push(`status = 'resolved'`);
    if (q.check) {
      where.push('(check_name = ? OR id IN (SELECT incident_id FROM alert_members WHERE check_name = ?))');
      args.push(q.check, q.check);
    }
    const sql = `SELECT data FROM alert_incidents ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY opened_at DESC LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, q.limit ?? 500) as { data: string }[];
    return rows.map((r) => JSON.parse(r.data));
  }

  async listOutbox(q: { status?: OutboxStatus[]; incidentId?: string; notifier?: string; limit?: number } = {}): Promise<OutboxRow[]> {
    this.#init();
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.status?.length) {
      where.push(`status IN (${q.status.map(() => '?').join(', ')})`);
      args.push(...q.status);
    }
    if (q.incidentId) {
      where.push('incident_id = ?');
      args.push(q.incidentId);
    }
    if (q.notifier) {
      where.push('notifier = ?');
      args.push(q.notifier);
    }
    const sql = `SELECT * FROM alert_outbox ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT ?`;
    return (this.db.prepare(sql).all(...args, q.limit ?? 100_000) as OutboxDbRow[]).map(toRow);
  }

  async updateOutbox(id: string, set: OutboxUpdate): Promise<void> {
    this.#init();
    const op = updateOp(id, set);
    if (op) return this.#write([op]);
  }

  async getReceipt(notifier: string, incidentId: string): Promise<Receipt | undefined> {
    this.#init();
    const r = this.#stmt('SELECT receipt FROM alert_receipts WHERE notifier = ? AND incident_id = ?').get(notifier, incidentId) as
      | { receipt: string }
      | undefined;
    return r ? JSON.parse(r.receipt) : undefined;
  }

  async putReceipt(notifier: string, incidentId: string, receipt: Receipt): Promise<void> {
    this.#init();
    return this.#write([receiptOp(notifier, incidentId, receipt)]);
  }

  async insertSilence(s: Silence): Promise<void> {
    this.#init();
    this.db
      .prepare('INSERT INTO alert_silences (id, starts_at, ends_at, data) VALUES (?, ?, ?, ?)')
      .run(s.id, s.startsAt, s.endsAt, JSON.stringify(s));
  }

  async listSilences(): Promise<Silence[]> {
    this.#init();
    return (this.db.prepare('SELECT data FROM alert_silences ORDER BY starts_at').all() as { data: string }[]).map((r) =>
      JSON.parse(r.data),
    );
  }

  async deleteSilence(id: string): Promise<boolean> {
    this.#init();
    return this.db.prepare('DELETE FROM alert_silences WHERE id = ?').run(id).changes > 0;
  }
}

function incidentOp(i: Incident): WriteOp {
  return { sql: UPSERT_INCIDENT, args: [i.id, i.check, i.status, i.openedAt, JSON.stringify(i)] };
}

function receiptOp(notifier: string, incidentId: string, receipt: Receipt): WriteOp {
  return { sql: PUT_RECEIPT, args: [notifier, incidentId, JSON.stringify(receipt)] };
}

/** An outbox row's changed columns (none set: no op). */
function updateOp(id: string, set: OutboxUpdate): WriteOp | undefined {
  const keys = (Object.keys(set) as (keyof OutboxUpdate)[]).filter((k) => set[k] !== undefined);
  if (!keys.length) return undefined;
  const sql = `UPDATE alert_outbox SET ${keys.map((k) => `${COLUMNS[k]} = ?`).join(', ')} WHERE id = ?`;
  const vals = keys.map((k) => {
    const v = set[k];
    return typeof v === 'boolean' ? (v ? 1 : 0) : v;
  });
  return { sql, args: [...vals, id] };
}
