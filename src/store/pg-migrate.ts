/**
 * Apply the versioned migrations (src/store/migrations/) to a PostgreSQL database. Replicas starting
 * together take one advisory lock, so each migration runs exactly once; a schema newer than this
 * quietwatch knows stops start-up with a clear message instead of writing into it.
 */
import { MIGRATIONS, LATEST_VERSION, type Migration } from './migrations/index.ts';
import { SchemaTooNewError, type PgPool } from './pg-pool.ts';

/** Any constant: the advisory lock every quietwatch takes while migrating. */
const MIGRATION_LOCK = 0x71775f6d; // "qw_m"

export interface MigrateResult {
  from: number;
  to: number;
  applied: number[];
}

export async function schemaVersion(db: PgPool): Promise<number> {
  const exists = await db.query<{ t: string | null }>(`SELECT to_regclass('schema_migrations')::text AS t`, [], 'reading the schema version');
  if (!exists.rows[0]?.t) return 0;
  const r = await db.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations', [], 'reading the schema version');
  return Number(r.rows[0]?.v ?? 0);
}

export async function migrate(db: PgPool, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrateResult> {
  const latest = migrations.length ? migrations[migrations.length - 1]!.version : 0;
  return db.tx(async (c) => {
    await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await c.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )`);
    const r = await c.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
    const from = Number(r.rows[0]?.v ?? 0);
    if (from > latest) {
      throw new SchemaTooNewError(
        `the database at ${db.target.host}:${db.target.port}/${db.target.database} has schema version ${from}, newer than this quietwatch knows (${latest}): ` +
          'upgrade quietwatch, or point store.url at another database; nothing was changed',
      );
    }
    const applied: number[] = [];
    for (const m of migrations) {
      if (m.version <= from) continue;
      await c.query(m.sql);
      await c.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
    }
    return { from, to: Math.max(from, ...applied), applied };
  }, 'migrating the schema');
}

export { LATEST_VERSION };
