/** PostgreSQL specifics: migrations, a newer schema refused, unreachable server, outage and recovery, timeouts, no password in errors. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStores } from '../../src/store/index.ts';
import { migrate, schemaVersion } from '../../src/store/pg-migrate.ts';
import { MIGRATIONS, LATEST_VERSION } from '../../src/store/migrations/index.ts';
import { PgPool, redactUrl } from '../../src/store/pg-pool.ts';
import { Secret } from '../../src/lib/secret.ts';
import { freePort } from '../helpers/process.ts';
import { startPostgres, type PgCluster } from '../helpers/postgres.ts';

let cluster: PgCluster;
beforeAll(async () => {
  cluster = await startPostgres();
});
afterAll(() => cluster?.stop());

describe('PostgreSQL store', () => {
  it('migrates a new database once, records each version, and is idempotent across replicas starting together', async () => {
    const url = cluster.createDatabase('mig');
    const pools = [new PgPool({ url }), new PgPool({ url }), new PgPool({ url })];
    try {
      const results = await Promise.all(pools.map((p) => migrate(p)));
      expect(results.map((r) => r.applied.length).sort()).toEqual([0, 0, MIGRATIONS.length]);
      expect(await schemaVersion(pools[0]!)).toBe(LATEST_VERSION);
      const rows = await pools[0]!.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('applies a later migration on top, in a transaction (a failing one leaves the schema as it was)', async () => {
    const url = cluster.createDatabase('mig2');
    const p = new PgPool({ url });
    try {
      await migrate(p);
      const next = { version: LATEST_VERSION + 1, name: 'test: add a column', sql: 'ALTER TABLE flips ADD COLUMN note TEXT' };
      const broken = { version: LATEST_VERSION + 2, name: 'test: broken', sql: 'ALTER TABLE nope ADD COLUMN x INT' };
      await expect(migrate(p, [...MIGRATIONS, next, broken])).rejects.toThrow(/nope/);
      expect(await schemaVersion(p)).toBe(LATEST_VERSION);
      const r = await migrate(p, [...MIGRATIONS, next]);
      expect(r).toEqual({ from: LATEST_VERSION, to: LATEST_VERSION + 1, applied: [LATEST_VERSION + 1] });
    } finally {
      await p.end();
    }
  });

  it('refuses to start against a newer schema, with a clear message, and changes nothing', async () => {
    const url = cluster.createDatabase('newer');
    const p = new PgPool({ url });
    await migrate(p);
    await p.query(`INSERT INTO schema_migrations (version, name) VALUES ($1, 'from a newer quietwatch')`, [LATEST_VERSION + 5]);
    await p.end();
    const err = await createStores({ path: 'unused', url }).catch((e) => e);
    expect(err).toMatchObject({ code: 'STORE_SCHEMA_TOO_NEW' });
    expect(err.message).toMatch(new RegExp(`schema version ${LATEST_VERSION + 5}, newer than this quietwatch knows \\(${LATEST_VERSION}\\)`));
    expect(err.message).toContain(`127.0.0.1:${cluster.port}/newer`);
  });

  it('says which host and port it cannot reach at start, never the password', async () => {
    const port = await freePort();
    const url = `postgres://quietwatch:${encodeURIComponent(cluster.password)}@127.0.0.1:${port}/quietwatch`;
    const t0 = Date.now();
    const err = await createStores({ path: 'unused', url: new Secret(url) }).catch((e) => e);
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(err).toMatchObject({ code: 'STORE_UNAVAILABLE', retryable: true });
    expect(err.message).toContain(`cannot reach PostgreSQL at 127.0.0.1:${port} (database quietwatch, user quietwatch)`);
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect(JSON.stringify({ m: err.message, s: err.stack, c: String(err.cause) })).not.toContain(cluster.password);
  });

  it('reports a wrong password as a permanent error without echoing it', async () => {
    const bad = 'Wr0ng-Pa55word-xyz';
    const url = `postgres://quietwatch:${bad}@127.0.0.1:${cluster.port}/quietwatch`;
    const err = await createStores({ path: 'unused', url }).catch((e) => e);
    expect(err).toMatchObject({ code: 'STORE_CONNECT_FAILED', retryable: false });
    expect(err.message).toMatch(/password authentication failed/);
    expect(JSON.stringify({ m: err.message, s: err.stack, c: String(err.cause) })).not.toContain(bad);
    expect(redactUrl(url)).toBe(`postgres://quietwatch@127.0.0.1:${cluster.port}/quietwatch`);
  });

  it('bounds every statement by statement_timeout', async () => {
    const p = new PgPool({ url: cluster.url, statementTimeoutMs: 300 });
    try {
      const t0 = Date.now();
      const err = await p.query('SELECT pg_sleep(5)').catch((e) => e);
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(err).toMatchObject({ code: 'STORE_QUERY_FAILED' });
      expect(err.message).toMatch(/statement timeout/);
    } finally {
      await p.end();
    }
  });

  it('fails fast while PostgreSQL is down and recovers without a restart when it returns', async () => {
    const url = cluster.createDatabase('outage');
    const s = await createStores({ path: 'unused', url, leaseTtl: 60_000 });
    await s.lease!.tick();
    try {
      await s.store.commit([['a', { status: 'ok', since: 1 } as never]], []);
      cluster.stopCluster();
      const err = await s.store.commit([['a', { status: 'quiet', since: 2 } as never]], []).catch((e) => e);
      expect(err).toMatchObject({ code: 'STORE_UNAVAILABLE', retryable: true });
      expect(err.message).toContain(`127.0.0.1:${cluster.port}`);
      expect(err.message).not.toContain(cluster.password);
      await expect(s.store.ping()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      cluster.startCluster();
      await s.store.ping();
      await s.lease!.tick(); // renewed after the outage (60 s lease: still ours)
      await s.store.commit([['a', { status: 'quiet', since: 3 } as never]], []);
      expect((await s.store.loadCheckStates()).get('a')).toEqual({ status: 'quiet', since: 3 });
    } finally {
      cluster.startCluster();
      await s.close();
    }
  });
});
