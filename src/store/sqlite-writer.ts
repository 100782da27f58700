/**
 * The SQLite writes on the other core. A storm's transactions (100,000 check states and flips, the
 * group's members and outbox rows) were ~1.2 s of a 3 s down storm on the event loop, all of it
 * inside better-sqlite3's synchronous calls. This worker thread, with its own connection to the same
 * file (WAL: readers on the main connection never wait for it, and see each transaction once it
 * has committed), runs the stores' writes given as data (write-ops.cjs), one transaction per `run`,
 * in the order they were given. `run` resolves once the transaction has committed — the same
 * promise the stores gave before, so ingest still acknowledges only what is on disk.
 *
 * A failed transaction (a full disk, a lock held past busy_timeout) rejects its `run` with the
 * SQLite error's message and code, and nothing of it was written. If the worker itself cannot open
 * the file or dies, the pending runs reject and the next `run` starts a new worker (at most one a
 * second; runs in between reject with the last error): the stores' failure handling (kept in
 * memory, written again, /readyz degraded) covers it like any failed write.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { WriteOp } from './write-ops.cjs';

// Plain CommonJS, evaluated in the worker: no TypeScript loader there. The ops are run by the same
// module the main thread uses without a writer (write-ops.cjs).
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const { transactionOf } = require(workerData.ops);
let db, tx;
try {
  db = new Database(workerData.file, { fileMustExist: true });
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  tx = transactionOf(db);
} catch (err) {
  parentPort.postMessage({ type: 'fatal', message: String(err && err.message || err), code: err && err.code });
  process.exit(1);
}
parentPort.on('message', (m) => {
  if (m === 'close') {
    try { db.close(); } catch {}
    process.exit(0);
  }
  try {
    tx(m.ops);
    parentPort.postMessage({ id: m.id });
  } catch (err) {
    parentPort.postMessage({ id: m.id, message: String(err && err.message || err), code: err && err.code });
  }
});
`;

/** A write that failed on the writer thread: the SQLite error's message and code (`SQLITE_FULL`…). */
export class SqliteWriteError extends Error {
  override name = 'SqliteError';
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

const RESPAWN_MS = 1_000;

export interface SqliteWriterOptions {
  /** The SQLite driver module the worker loads (default better-sqlite3, resolved from here). */
  driver?: string;
  /** The worker could not open the file or exited unexpectedly. */
  onError?: (message: string) => void;
}

interface Pending {
  resolve: () => void;
  reject: (err: Error) => void;
}

export class SqliteWriter {
  readonly #file: string;
  readonly #driver: string;
  readonly #ops: string;
  readonly #onError: ((message: string) => void) | undefined;
  #worker: Worker | undefined;
  #exited: Promise<void> = Promise.resolve();
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closing = false;
  /** When the last worker died, and why: no new one before RESPAWN_MS. */
  #died: { at: number; error: Error } | undefined;

  constructor(file: string, o: SqliteWriterOptions = {}) {
    const req = createRequire(import.meta.url);
    this.#file = file;
    this.#driver = o.driver ?? req.resolve('better-sqlite3');
    this.#ops = req.resolve('./write-ops.cjs');
    this.#onError = o.onError;
    this.#spawn();
  }

  /** Run `ops` in one transaction on the writer thread; resolves once it has committed. */
  run(ops: readonly WriteOp[]): Promise<void> {
    if (this.#closing) return Promise.reject(new Error('the SQLite writer is closed'));
    if (!this.#worker) {
      if (this.#died && Date.now() - this.#died.at < RESPAWN_MS) return Promise.reject(this.#died.error);
      this.#spawn();
    }
    const id = this.#nextId++;
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (this.#pending.size === 1) this.#worker!.ref();
      this.#worker!.postMessage({ id, ops });
    });
  }

  /** Writes sent and not yet answered. */
  get pending(): number {
    return this.#pending.size;
  }

  #spawn(): void {
    const w = new Worker(WORKER, { eval: true, workerData: { file: this.#file, driver: this.#driver, ops: this.#ops } });
    this.#worker = w;
    w.unref();
    let fatal: Error | undefined;
    w.on('message', (m: { type?: 'fatal'; id?: number; message?: string; code?: string }) => {
      if (m.type === 'fatal') {
        fatal = new SqliteWriteError(`the SQLite writer cannot open ${this.#file}: ${m.message}`, m.code);
        return;
      }
      const p = this.#pending.get(m.id!);
      if (!p) return;
      this.#pending.delete(m.id!);
      if (this.#pending.size === 0) w.unref();
      if (m.message === undefined) p.resolve();
      else p.reject(new SqliteWriteError(m.message, m.code));
    });
    w.on('error', (err) => (fatal ??= err));
    this.#exited = new Promise((resolve) => {
      w.on('exit', (code) => {
        if (this.#worker === w) this.#worker = undefined;
        const error = fatal ?? new Error(`the SQLite writer thread exited (code ${code})`);
        if (!this.#closing) {
          this.#died = { at: Date.now(), error };
          this.#onError?.(error.message);
        }
        // Sent to this worker and never answered: not known to be written.
        for (const p of this.#pending.values()) p.reject(error);
        this.#pending.clear();
        resolve();
      });
    });
  }

  /** Let the writes sent so far finish, then stop the worker (its connection closed). */
  async close(): Promise<void> {
    if (this.#closing) return this.#exited;
    this.#closing = true;
    const w = this.#worker;
    if (!w) return;
    // Messages are handled in order: 'close' comes after every write already sent.
    w.postMessage('close');
    w.ref();
    const t = setTimeout(() => void w.terminate(), 10_000);
    await this.#exited;
    clearTimeout(t);
  }
}
