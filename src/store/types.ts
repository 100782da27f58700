/**
 * The store behind a small async interface: SQLite today (one file, embedded); PostgreSQL later so that
 * two replicas can share state under one leader. Modules with their own tables (alerts, probes, learn)
 * get the same database through `sqlite()`; they keep their own async interfaces.
 */
import type { Database } from 'better-sqlite3';
import type { CheckState, Flip } from '../checks/types.ts';

export interface StoredFlip extends Flip {
  id: number;
}

export interface Store {
  /** Every check's last saved state, by check name. */
  loadCheckStates(): Promise<Map<string, CheckState>>;
  /** Save states and flips in one transaction: both or neither. */
  commit(states: Iterable<[string, CheckState]>, flips: readonly Flip[]): Promise<void>;
  /** Newest first. */
  listFlips(check: string, limit: number): Promise<StoredFlip[]>;
  /** Delete flips older than `before` (keeps the file small). */
  pruneFlips(before: number): Promise<number>;
  /** A cheap query proving the store answers (for /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
  /** The SQLite handle for modules that keep their own tables; undefined for other backends. */
  sqlite(): Database | undefined;
}
