/**
 * Many rows in few statements, for better-sqlite3: a storm writes 100,000 check states, flips and
 * group members at once, and one crossing into SQLite per ROWS_PER_STATEMENT rows instead of per
 * row took ~30% off the check-state commit (micro-benchmark, 2026-12-03). Used by the check store
 * (src/store/sqlite.ts) and the alert store (src/alerts/store-sqlite.ts).
 */
import type { Statement } from 'better-sqlite3';

/** Rows per multi-row statement (SQLite's default limit is 32,766 parameters). */
export const ROWS_PER_STATEMENT = 50;

/** `(?, ?, ?), (?, ?, ?), …`: `rows` groups of `width` placeholders, for `INSERT … VALUES`. */
export function placeholders(width: number, rows = ROWS_PER_STATEMENT): string {
  const one = `(${Array(width).fill('?').join(', ')})`;
  return Array(rows).fill(one).join(', ');
}

/**
 * Run the rows `each` pushes (`width` values a row): ROWS_PER_STATEMENT at a time through `many`
 * (prepared with `placeholders(width)`), the rest one by one through `one`. Rows apply in order, so
 * with an upsert a key written twice ends with its later row.
 */
export function runChunked(many: Statement, one: Statement, width: number, each: (push: (...row: unknown[]) => void) => void): void {
  const args: unknown[] = [];
  each((...row) => {
    args.push(...row);
    if (args.length === width * ROWS_PER_STATEMENT) {
      many.run(args);
      args.length = 0;
    }
  });
  for (let i = 0; i < args.length; i += width) one.run(args.slice(i, i + width));
}
