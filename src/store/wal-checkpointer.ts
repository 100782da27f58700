/**
 * WAL checkpoints on the other core. In WAL mode SQLite copies the log back into the database file
 * (a checkpoint) from inside a COMMIT once the log passes 1,000 pages: a storm writes 100,000 check
 * states, flips and group members, and those checkpoints ran on the event loop, in the storm's
 * transactions. Measured (2026-12-04, 100,000 states upserted in slices of 1,000): 418 -> 274 ms for the
 * quiet slices, 542 -> 484 ms for the down slices with their flips, the slowest slice 15 -> 4-8 ms.
 *
 * So the service's connection turns auto-checkpoints off, and this worker thread, with its own
 * connection to the same file, runs `PRAGMA wal_checkpoint(PASSIVE)` every `everyMs`. PASSIVE never
 * waits for a lock and never blocks a writer or a reader: what it cannot copy yet it copies next time.
 * If the worker cannot open the file, fails or exits, the connection gets its auto-checkpoints back
 * (the log would otherwise grow without bound) and `onError` says why.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Database } from 'better-sqlite3';

/** SQLite's own default (`wal_autocheckpoint`), restored when the worker is gone. */
const AUTO_PAGES = 1_000;

// Plain CommonJS, evaluated in the worker: no TypeScript loader there.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
let db;
try {
  db = new Database(workerData.file, { fileMustExist: true });
  db.pragma('busy_timeout = 0');
} catch (err) {
  parentPort.postMessage({ type: 'error', message: String(err && err.message || err), fatal: true });
  process.exit(1);
}
parentPort.postMessage({ type: 'ready' });
let failing = false;
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
    failing = false;
  } catch (err) {
    // A full disk, say: said once per failing spell, tried again next time.
    if (!failing) parentPort.postMessage({ type: 'error', message: String(err && err.message || err), fatal: false });
    failing = true;
  }
}, workerData.everyMs);
parentPort.on('message', (m) => {
  if (m === 'close') {
    clearInterval(timer);
    try { db.close(); } catch {}
    process.exit(0);
  }
});
`;

export interface WalCheckpointerOptions {
  everyMs?: number;
  /** The SQLite driver module the worker loads (default better-sqlite3, resolved from here). */
  driver?: string;
  /** The worker could not open the file, failed or exited (fatal: auto-checkpoints are back on). */
  onError?: (message: string, fatal: boolean) => void;
}

export class WalCheckpointer {
  readonly #db: Database;
  readonly #worker: Worker;
  readonly #exited: Promise<void>;
  #closing = false;
  #active = false;

  constructor(db: Database, file: string, o: WalCheckpointerOptions = {}) {
    this.#db = db;
    const driver = o.driver ?? createRequire(import.meta.url).resolve('better-sqlite3');
    this.#worker = new Worker(WORKER, { eval: true, workerData: { file, driver, everyMs: o.everyMs ?? 200 } });
    this.#worker.unref();
    this.#worker.on('message', (m: { type: string; message?: string; fatal?: boolean }) => {
      if (m.type === 'ready') {
        // The store's connection may have been closed meanwhile (a shutdown, a lost disk).
        if (this.#closing || !this.#db.open) return;
        try {
          this.#db.pragma('wal_autocheckpoint = 0');
          this.#active = true;
        } catch (err) {
          o.onError?.(`could not hand checkpoints to the worker: ${(err as Error).message}`, false);
        }
      } else if (m.type === 'error') o.onError?.(m.message ?? 'unknown error', m.fatal ?? false);
    });
    this.#worker.on('error', (err) => o.onError?.(err.message, true));
    this.#exited = new Promise((resolve) => {
      this.#worker.on('exit', (code) => {
        this.#restoreAuto();
        if (!this.#closing) o.onError?.(`the checkpoint worker exited (code ${code}); the store checkpoints in its own transactions again`, true);
        resolve();
      });
    });
  }

  /** The worker checkpoints (false before it has opened the file, and after it failed). */
  get active(): boolean {
    return this.#active;
  }

  #restoreAuto(): void {
    this.#active = false;
    try {
      if (this.#db.open) this.#db.pragma(`wal_autocheckpoint = ${AUTO_PAGES}`);
    } catch {
      // The connection is going away itself: nothing left to checkpoint through it.
    }
  }

  /** Stop the worker (its connection closed) before the store's connection closes. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#worker.postMessage('close');
    const t = setTimeout(() => void this.#worker.terminate(), 2_000);
    await this.#exited;
    clearTimeout(t);
  }
}
