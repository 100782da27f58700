/**
 * Many rows in few statements, for better-sqlite3: a storm writes 100,000 check states, flips and
 * group members at once, and one crossing into SQLite per ROWS_PER_STATEMENT rows instead of per
 * row took ~30% off the check-state commit (micro-benchmark, 2026-12-03). Used by the check store
 * (src/store/sqlite.ts) and the alert store (src/alerts/store-sqlite.ts); the rows are run by
 * write-ops.cjs, on the writer thread or the caller's connection.
 */
import type { WriteOp } from './write-ops.cjs';

/** Rows per multi-row statement (SQLite's default limit is 32,766 parameters). */
export const ROWS_PER_STATEMENT = 50;

/** `(?, ?, ?), (?, ?, ?), …`: `rows` groups of `width` placeholders, for `INSERT … VALUES`. */
export function placeholders(width: number, rows = ROWS_PER_STATEMENT): string {
  const one = `(${Array(width).fill('?').join(', ')})`;
  return Array(rows).fill(one).join(', ');
}

/**
 * Rows as one op, `width` values a row, flat: `fill` pushes them onto `args` (no array per row).
 * `one` is the statement for a row, `many` the same prepared with `placeholders(width)`.
 */
export function rowsOp(one: string, many: string, width: number, fill: (args: unknown[]) => void = () => {}): WriteOp & { many: string } {
  const args: unknown[] = [];
  fill(args);
  return { sql: one, many, width, perStatement: ROWS_PER_STATEMENT, args };
}
