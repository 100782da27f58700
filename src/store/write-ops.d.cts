import type { Database } from 'better-sqlite3';

/** One statement run once, or many rows (flat `args`, `width` values a row) chunked through `many`. */
export type WriteOp =
  | { sql: string; args: unknown[]; many?: undefined }
  | { sql: string; args: unknown[]; many: string; width: number; perStatement: number };

export function transactionOf(db: Database): (ops: readonly WriteOp[]) => void;
