import { accessSync, closeSync, constants, mkdirSync, openSync, readSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import type { CheckState, Flip } from '../checks/types.ts';
import { PermanentError } from '../lib/errors.ts';
import { placeholders, rowsOp, ROWS_PER_STATEMENT } from './sqlite-chunked.ts';
import { SqliteWriter, type SqliteWriterOptions } from './sqlite-writer.ts';
import type { Store, StoredFlip } from './types.ts';
import { WalCheckpointer, type WalCheckpointerOptions } from './wal-checkpointer.ts';
import { transactionOf, type WriteOp } from './write-ops.cjs';

/**
 * The store file cannot be used: says which file and what is wrong, and nothing was changed on
 * disk (a foreign or corrupt file is never written to). `quietwatch serve` exits 2 with the message.
 */
export class StoreOpenError extends PermanentError {
  constructor(
    readonly path: string,
    problem: string,
    opts: { cause?: unknown } = {},
  ) {
    super('STORE_OPEN_FAILED', `cannot use the store file ${path} (store.path): ${problem}`, opts);
  }
}

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

function errCode(err: unknown): string {
  return String((err as { code?: string })?.code ?? 'UNKNOWN');
}

/** What a SQLite error means for the operator. */
function describeSqliteError(err: unknown, dir: string): string {
  const code = errCode(err);
  const msg = (err as Error)?.message ?? String(err);
  if (code === 'SQLITE_NOTADB') return 'it is not a SQLite database (or it is encrypted); it was left untouched — move it away or point store.path elsewhere';
  if (code.startsWith('SQLITE_CORRUPT')) return `it is corrupt (${msg}); it was left untouched — restore it from a backup or move it away`;
  if (code.startsWith('SQLITE_CANTOPEN')) return `SQLite cannot open it (${msg}): the directory ${dir} must be writable (SQLite keeps -wal and -shm files next to the database)`;
  if (code.startsWith('SQLITE_READONLY')) return `it is read-only (${msg}): quietwatch must write to it, and to its directory ${dir}`;
  if (code === 'SQLITE_FULL') return `the disk is full (${msg})`;
  return `${msg} (${code})`;
}

/**
 * Open (or create) the SQLite file at `path`, checking first so that every way it can be unusable
 * is reported with the path and the reason — and so that a file that is not ours is never written.
 */
function openDatabase(path: string): Database {
  if (path === ':memory:') return new BetterSqlite3(path);
  const file = resolve(path);
  const dir = dirname(file);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new StoreOpenError(path, `its directory ${dir} cannot be created (${errCode(err)}: ${(err as Error).message})`, { cause: err });
  }
  let st: Stats | undefined;
  try {
    st = statSync(file);
  } catch (err) {
    if (errCode(err) !== 'ENOENT') throw new StoreOpenError(path, `it cannot be read (${errCode(err)}: ${(err as Error).message})`, { cause: err });
  }
  if (st) {
    if (!st.isFile()) throw new StoreOpenError(path, `it is not a file but a ${st.isDirectory() ? 'directory' : 'special file'}`);
    try {
      accessSync(file, constants.R_OK | constants.W_OK);
    } catch (err) {
      throw new StoreOpenError(path, `it is not readable and writable by this user (${errCode(err)})`, { cause: err });
    }
    if (st.size > 0) {
      const head = Buffer.alloc(SQLITE_MAGIC.length);
      const fd = openSync(file, 'r');
      let n = 0;
      try {
        n = readSync(fd, head, 0, head.length, 0);
      } finally {
        closeSync(fd);
      }
      if (n < head.length || !head.equals(SQLITE_MAGIC)) {
        const preview = JSON.stringify(head.subarray(0, n).toString('latin1').replace(/[^\x20-\x7e]/g, '.'));
        throw new StoreOpenError(path, `it is not a SQLite database (it starts with ${preview}); it was left untouched — move it away or point store.path elsewhere`);
      }
      // Read the schema read-only first: a corrupt file is found before anything (WAL mode) writes to it.
      let ro: Database | undefined;
      try {
        ro = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
        ro.prepare('SELECT count(*) FROM sqlite_master').get();
        ro.pragma('schema_version');
      } catch (err) {
        throw new StoreOpenError(path, describeSqliteError(err, dir), { cause: err });
      } finally {
        ro?.close();
      }
    }
  }
  let db: Database | undefined;
  try {
    db = new BetterSqlite3(file, { fileMustExist: st !== undefined });
    db.pragma('journal_mode = WAL');
    return db;
  } catch (err) {
    db?.close();
    // A file we just created and could not use goes again: nothing is left behind.
    if (!st) {
      for (const f of [file, `${file}-wal`, `${file}-shm`]) {
        try {
          if (statSync(f).size === 0) unlinkSync(f);
        } catch {
          /* not there */
        }
      }
    }
    throw new StoreOpenError(path, st ? describeSqliteError(err, dir) : `it cannot be created in ${dir}: ${describeSqliteError(err, dir)}`, { cause: err });
  }
}

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

const UPSERT_STATES = (rows: number) =>
  `INSERT INTO check_state (name, state, updated_at) VALUES ${placeholders(3, rows)} ON CONFLICT(name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`;
const INSERT_FLIPS = (rows: number) => `INSERT INTO flips (check_name, from_status, to_status, at, reason) VALUES ${placeholders(5, rows)}`;
// Storms write 100,000 states and flips at once: many rows to a statement (sqlite-chunked.ts).
const UPSERT_STATE = UPSERT_STATES(1);
const UPSERT_STATES_MANY = UPSERT_STATES(ROWS_PER_STATEMENT);
const INSERT_FLIP = INSERT_FLIPS(1);
const INSERT_FLIPS_MANY = INSERT_FLIPS(ROWS_PER_STATEMENT);

export interface SqliteStoreOptions {
  /** WAL checkpoints on a worker thread (the service's store; see wal-checkpointer.ts). */
  checkpointWorker?: WalCheckpointerOptions;
  /** Commits on a writer thread (the service's store; see sqlite-writer.ts). A file, not `:memory:`. */
  writer?: SqliteWriterOptions;
}

export class SqliteStore implements Store {
  readonly db: Database;
  private readonly selectFlips;
  /** Runs write ops in one transaction on this connection (no writer thread). */
  private readonly tx;
  /** WAL checkpoints on a worker thread (the service's store; see wal-checkpointer.ts). */
  readonly checkpointer?: WalCheckpointer;
  /** Commits on a writer thread; the alert store sends its commits there too. */
  readonly writer?: SqliteWriter;

  constructor(path: string, opts: SqliteStoreOptions = {}) {
    this.db = openDatabase(path);
    // NORMAL in WAL mode: a committed transaction survives a process crash (SIGKILL); only an OS
    // crash or power loss can lose the last transactions.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    try {
      this.db.exec(SCHEMA);
    } catch (err) {
      this.db.close();
      throw new StoreOpenError(path, describeSqliteError(err, dirname(resolve(path))), { cause: err });
    }
    this.selectFlips = this.db.prepare('SELECT id, check_name, from_status, to_status, at, reason FROM flips WHERE check_name = ? ORDER BY id DESC LIMIT ?');
    this.tx = transactionOf(this.db);
    if (path !== ':memory:') {
      if (opts.checkpointWorker) this.checkpointer = new WalCheckpointer(this.db, resolve(path), opts.checkpointWorker);
      if (opts.writer) this.writer = new SqliteWriter(resolve(path), opts.writer);
    }
  }

  /** Run write ops in one transaction: on the writer thread when there is one, else here, now. */
  async write(ops: readonly WriteOp[]): Promise<void> {
    if (this.writer) return this.writer.run(ops);
    this.tx(ops);
  }

  async loadCheckStates(): Promise<Map<string, CheckState>> {
    const rows = this.db.prepare('SELECT name, state FROM check_state').all() as { name: string; state: string }[];
    return new Map(rows.map((r) => [r.name, JSON.parse(r.state) as CheckState]));
  }

  async commit(states: Iterable<[string, CheckState]>, flips: readonly Flip[]): Promise<void> {
    const now = Date.now();
    return this.write([
      rowsOp(UPSERT_STATE, UPSERT_STATES_MANY, 3, (args) => {
        for (const [name, st] of states) args.push(name, JSON.stringify(st), now);
      }),
      rowsOp(INSERT_FLIP, INSERT_FLIPS_MANY, 5, (args) => {
        for (const f of flips) args.push(f.check, f.from, f.to, f.at, f.reason);
      }),
    ]);
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
    await this.writer?.close();
    await this.checkpointer?.close();
    if (this.db.open) this.db.close();
  }

  sqlite(): Database {
    return this.db;
  }
}
