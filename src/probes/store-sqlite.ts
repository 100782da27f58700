/** The SQLite ProbeStore on the shared better-sqlite3 handle. Owns the `probes` table. */
import type { Database } from 'better-sqlite3';
import type { ProbeRecord, ProbeStore } from './store.ts';

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

type Row = Record<string, string | number | null>;

function toRow(rec: Partial<ProbeRecord>): Row {
  const row: Row = {};
  for (const k of KEYS) if (k in rec) row[COLUMNS[k]] = (rec[k] as string | number | undefined) ?? null;
  return row;
}

function fromRow(row: Row): ProbeRecord {
  const rec: Record<string, unknown> = {};
  for (const k of KEYS) {
    const v = row[COLUMNS[k]];
    if (v !== null && v !== undefined) rec[k] = v;
  }
  return rec as unknown as ProbeRecord;
}

export class SqliteProbeStore implements ProbeStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
    db.exec(`
      CREATE TABLE IF NOT EXISTS probes (
        id TEXT PRIMARY KEY,
        check_name TEXT NOT NULL,
        reason TEXT NOT NULL,
        driver TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        fired_at INTEGER NOT NULL,
        deadline INTEGER NOT NULL,
        charged_at INTEGER,
        result TEXT NOT NULL,
        latency_ms INTEGER,
        reference TEXT,
        cost_minor INTEGER NOT NULL,
        currency TEXT NOT NULL,
        error TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        settled_at INTEGER,
        reversed_at INTEGER,
        reversal_error TEXT
      );
      CREATE INDEX IF NOT EXISTS probes_check_fired ON probes (check_name, fired_at);
      CREATE INDEX IF NOT EXISTS probes_fired ON probes (fired_at);
    `);
  }

  async insert(rec: ProbeRecord): Promise<void> {
    const row = toRow(rec);
    const cols = Object.keys(row);
    this.#db.prepare(`INSERT INTO probes (${cols.join(', ')}) VALUES (${cols.map((c) => '@' + c).join(', ')})`).run(row);
  }

  async update(id: string, patch: Partial<Omit<ProbeRecord, 'id'>>): Promise<void> {
    const row = toRow(patch);
    const cols = Object.keys(row);
    if (!cols.length) return;
    this.#db.prepare(`UPDATE probes SET ${cols.map((c) => `${c} = @${c}`).join(', ')} WHERE id = @__id`).run({ ...row, __id: id });
  }

  async get(id: string): Promise<ProbeRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM probes WHERE id = ?').get(id) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  async list(q: { check?: string; limit?: number }): Promise<ProbeRecord[]> {
    const limit = Math.max(1, Math.min(q.limit ?? 50, 1000));
    const rows = (
      q.check !== undefined
        ? this.#db.prepare('SELECT * FROM probes WHERE check_name = ? ORDER BY fired_at DESC, rowid DESC LIMIT ?').all(q.check, limit)
        : this.#db.prepare('SELECT * FROM probes ORDER BY fired_at DESC, rowid DESC LIMIT ?').all(limit)
    ) as Row[];
    return rows.map(fromRow);
  }

  async countCharges(q: { check?: string; since: number }): Promise<number> {
    const r = (
      q.check !== undefined
        ? this.#db.prepare("SELECT COUNT(*) AS n FROM probes WHERE check_name = ? AND fired_at >= ? AND result <> 'skipped-budget'").get(q.check, q.since)
        : this.#db.prepare("SELECT COUNT(*) AS n FROM probes WHERE fired_at >= ? AND result <> 'skipped-budget'").get(q.since)
    ) as { n: number };
    return r.n;
  }

  async listPending(): Promise<ProbeRecord[]> {
    return (this.#db.prepare("SELECT * FROM probes WHERE result = 'pending' ORDER BY fired_at").all() as Row[]).map(fromRow);
  }

  async findInFlight(check: string, now: number): Promise<ProbeRecord | undefined> {
    const row = this.#db
      .prepare("SELECT * FROM probes WHERE check_name = ? AND result IN ('pending', 'accepted') AND deadline > ? ORDER BY fired_at DESC LIMIT 1")
      .get(check, now) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }
}
