/**
 * `quietwatch migrate --from data/quietwatch.sqlite --to postgres://…`: move a SQLite store into a
 * new PostgreSQL database — check states, flips, incidents, the outbox and receipts, silences, probes
 * and learned models — so a team that outgrows one node keeps its history.
 *
 *  - the SQLite file is opened read-only (stop the service first: what it writes after the copy
 *    started is not moved);
 *  - the target schema is created by the versioned migrations; a target that already holds quietwatch
 *    data is refused (nothing is merged or overwritten);
 *  - everything is copied in ONE PostgreSQL transaction (all or nothing), ids and sequence numbers kept
 *    (flip ids, outbox order), sequences moved past them; the counts are compared before commit.
 */
import { existsSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import type { Command } from 'commander';
import { PermanentError } from '../lib/errors.ts';
import type { Secret } from '../lib/secret.ts';
import { migrate } from './pg-migrate.ts';
import { PgPool, redactUrl } from './pg-pool.ts';

interface Column {
  name: string;
  /** The type the value arrives as (JSON from SQLite) and the expression that stores it. */
  type: string;
  expr?: string;
}

interface TableSpec {
  table: string;
  columns: Column[];
  orderBy: string;
  /** A serial column whose sequence must move past the copied values. */
  serial?: string;
}

const c = (name: string, type: string, expr?: string): Column => ({ name, type, ...(expr ? { expr } : {}) });

/** What is moved, in an order that respects nothing but readability (there are no foreign keys). */
export const TABLES: readonly TableSpec[] = [
  { table: 'check_state', columns: [c('name', 'text'), c('state', 'text', 'state::jsonb'), c('updated_at', 'bigint')], orderBy: 'name' },
  {
    table: 'flips',
    columns: [c('id', 'bigint'), c('check_name', 'text'), c('from_status', 'text'), c('to_status', 'text'), c('at', 'bigint'), c('reason', 'text')],
    orderBy: 'id',
    serial: 'id',
  },
  {
    table: 'alert_incidents',
    columns: [c('id', 'text'), c('check_name', 'text'), c('status', 'text'), c('opened_at', 'bigint'), c('data', 'text', 'data::jsonb')],
    orderBy: 'opened_at',
  },
  {
    table: 'alert_outbox',
    columns: [
      c('seq', 'bigint'),
      c('id', 'text'),
      c('notifier', 'text'),
      c('incident_id', 'text'),
      c('notification', 'text', 'notification::jsonb'),
      c('status', 'text'),
      c('attempts', 'integer'),
      c('next_attempt_at', 'bigint'),
      c('created_at', 'bigint'),
      c('delivered_at', 'bigint'),
      c('last_error_code', 'text'),
      c('last_error', 'text'),
      c('permanent', 'integer', 'COALESCE(permanent, 0) <> 0'),
    ],
    orderBy: 'seq',
    serial: 'seq',
  },
  {
    table: 'alert_members',
    columns: [c('incident_id', 'text'), c('check_name', 'text'), c('status', 'text'), c('data', 'text', 'data::jsonb')],
    orderBy: 'incident_id, check_name',
  },
  { table: 'alert_receipts', columns: [c('notifier', 'text'), c('incident_id', 'text'), c('receipt', 'text', 'receipt::jsonb')], orderBy: 'notifier, incident_id' },
  { table: 'alert_silences', columns: [c('id', 'text'), c('starts_at', 'bigint'), c('ends_at', 'bigint'), c('data', 'text', 'data::jsonb')], orderBy: 'starts_at' },
  {
    table: 'probes',
    columns: [
      c('id', 'text'),
      c('check_name', 'text'),
      c('reason', 'text'),
      c('driver', 'text'),
      c('idempotency_key', 'text'),
      c('fired_at', 'bigint'),
      c('deadline', 'bigint'),
      c('charged_at', 'bigint'),
      c('result', 'text'),
      c('latency_ms', 'bigint'),
      c('reference', 'text'),
      c('cost_minor', 'bigint'),
      c('currency', 'text'),
      c('error', 'text'),
      c('attempts', 'integer'),
      c('settled_at', 'bigint'),
      c('reversed_at', 'bigint'),
      c('reversal_error', 'text'),
    ],
    orderBy: 'fired_at',
  },
  { table: 'learn_models', columns: [c('check_name', 'text'), c('version', 'integer'), c('state', 'text', 'state::jsonb'), c('saved_at', 'bigint')], orderBy: 'check_name' },
];

export interface MoveReport {
  from: string;
  to: string;
  /** Rows copied per table. */
  rows: Record<string, number>;
  ms: number;
}

const BATCH = 1000;

export async function moveSqliteToPostgres(o: { from: string; to: string | Secret; batch?: number }): Promise<MoveReport> {
  const t0 = Date.now();
  if (!existsSync(o.from)) throw new PermanentError('MIGRATE_NO_SOURCE', `no SQLite store at ${o.from}`);
  const sqlite = new BetterSqlite3(o.from, { readonly: true, fileMustExist: true });
  const pg = new PgPool({ url: o.to, applicationName: 'quietwatch migrate' });
  try {
    await pg.check();
    await migrate(pg);
    const present = new Set((sqlite.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]).map((r) => r.name));
    const rows: Record<string, number> = {};
    await pg.tx(async (q) => {
      for (const t of TABLES) {
        const n = await q.query<{ n: number }>(`SELECT count(*) AS n FROM ${t.table}`);
        if (Number(n.rows[0]!.n) > 0) {
          throw new PermanentError('MIGRATE_TARGET_NOT_EMPTY', `${pg.where} already holds quietwatch data (table ${t.table}): migrate into a new, empty database; nothing was changed`);
        }
      }
      for (const t of TABLES) {
        rows[t.table] = 0;
        if (!present.has(t.table)) continue;
        const have = new Set((sqlite.prepare(`PRAGMA table_info(${t.table})`).all() as { name: string }[]).map((r) => r.name));
        const cols = t.columns.filter((col) => have.has(col.name));
        const select = sqlite.prepare(`SELECT ${cols.map((col) => col.name).join(', ')} FROM ${t.table} ORDER BY ${t.orderBy}`);
        const insert = `INSERT INTO ${t.table} (${cols.map((col) => col.name).join(', ')})
          SELECT ${cols.map((col) => col.expr ?? col.name).join(', ')}
          FROM jsonb_to_recordset($1::jsonb) AS x(${cols.map((col) => `${col.name} ${col.type}`).join(', ')})`;
        let batch: unknown[] = [];
        const flush = async () => {
          if (!batch.length) return;
          await q.query(insert, [JSON.stringify(batch)]);
          rows[t.table]! += batch.length;
          batch = [];
        };
        for (const r of select.iterate()) {
          batch.push(r);
          if (batch.length >= (o.batch ?? BATCH)) await flush();
        }
        await flush();
        if (t.serial) {
          await q.query(`SELECT setval(pg_get_serial_sequence('${t.table}', '${t.serial}'), GREATEST((SELECT max(${t.serial}) FROM ${t.table}), 1), (SELECT count(*) > 0 FROM ${t.table}))`);
        }
        const copied = await q.query<{ n: number }>(`SELECT count(*) AS n FROM ${t.table}`);
        const source = (sqlite.prepare(`SELECT count(*) AS n FROM ${t.table}`).get() as { n: number }).n;
        if (Number(copied.rows[0]!.n) !== source) {
          throw new PermanentError('MIGRATE_COUNT_MISMATCH', `${t.table}: ${source} rows in SQLite, ${copied.rows[0]!.n} in PostgreSQL; nothing was committed`);
        }
      }
    }, 'copying the SQLite store');
    return { from: o.from, to: pg.where, rows, ms: Date.now() - t0 };
  } finally {
    sqlite.close();
    await pg.end();
  }
}

/** The `migrate` command (registered by src/cli.ts). */
export function registerMigrateCommand(program: Command, fail: (message: string, code?: number) => never): void {
  program
    .command('migrate')
    .description('move a SQLite store into a new PostgreSQL database (stop the service first)')
    .requiredOption('--from <file>', 'the SQLite file (store.path)')
    .option('--to <url>', 'postgres://user:pass@host:port/db (or QUIETWATCH_STORE_URL)', process.env.QUIETWATCH_STORE_URL)
    .action(async (o: { from: string; to?: string }) => {
      if (!o.to) fail('migrate: --to postgres://… (or QUIETWATCH_STORE_URL) is required', 2);
      try {
        const r = await moveSqliteToPostgres({ from: o.from, to: o.to });
        const lines = Object.entries(r.rows).map(([t, n]) => `  ${t.padEnd(16)} ${n}`);
        process.stdout.write(`moved ${r.from} -> ${r.to} in ${r.ms} ms:\n${lines.join('\n')}\n`);
      } catch (err) {
        const e = err as { code?: string; message?: string };
        fail(`migrate failed${e.code ? ` (${e.code})` : ''}: ${e.message ?? String(err)}`.replace(o.to, redactUrl(o.to)), 1);
      }
    });
}
