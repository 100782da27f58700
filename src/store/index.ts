/**
 * One place that builds a backend's whole set of stores, so the composition root picks SQLite or
 * PostgreSQL by configuration and wires the same interfaces either way:
 *
 *  - `store.url: postgres://…` (or QUIETWATCH_STORE_URL): one pool, the server checked at start
 *    (a clear error naming host and port when unreachable), the schema migrated (refused when newer),
 *    and a leader lease whose fencing token guards every claim that sends or charges;
 *  - otherwise the embedded SQLite file at `store.path` (one process: it always leads, no lease).
 */
import type { AlertStore } from '../alerts/outbox.ts';
import { SqliteAlertStore } from '../alerts/store-sqlite.ts';
import { PostgresAlertStore } from '../alerts/store-postgres.ts';
import type { Fence } from '../ha/fence.ts';
import { LeaderLease } from '../ha/lease.ts';
import type { Clock } from '../lib/clock.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import type { Secret } from '../lib/secret.ts';
import { SqliteLearnStore, type LearnStore } from '../learn/store-sqlite.ts';
import { PostgresLearnStore } from '../learn/store-postgres.ts';
import type { ProbeStore } from '../probes/store.ts';
import { SqliteProbeStore } from '../probes/store-sqlite.ts';
import { PostgresProbeStore } from '../probes/store-postgres.ts';
import { migrate } from './pg-migrate.ts';
import { PgPool } from './pg-pool.ts';
import { PostgresStore } from './postgres.ts';
import { SqliteStore } from './sqlite.ts';
import type { Store } from './types.ts';

export interface StoreSettings {
  /** The SQLite file (used when no url is set). */
  path: string;
  /** postgres://user:pass@host:port/db */
  url?: string | Secret;
  /** PostgreSQL pool size. */
  poolSize?: number;
  /** PostgreSQL statement timeout, ms. */
  statementTimeout?: number;
  /** Leader lease length, ms (PostgreSQL only). */
  leaseTtl?: number;
}

export interface Stores {
  kind: 'sqlite' | 'postgres';
  store: Store;
  alertStore: AlertStore;
  probeStore: ProbeStore;
  learnStore: LearnStore;
  /** PostgreSQL only: the pool every store shares. */
  pg?: PgPool;
  /** PostgreSQL only: the leader lease (not started: the composition root starts it). */
  lease?: LeaderLease;
  /** Where the data lives, without secrets (logs, /readyz). */
  where: string;
  close(): Promise<void>;
}

export interface CreateStoresOptions {
  clock?: Clock;
  logger?: Logger;
  /** Replace the lease as the fence (tests). */
  fence?: Fence;
  /** SQLite: commits on a writer thread (default true). */
  sqliteWriter?: boolean;
  /** Lease settings (PostgreSQL). */
  lease?: { ttlMs?: number; everyMs?: number; marginMs?: number; holder?: string };
}

export async function createStores(s: StoreSettings, o: CreateStoresOptions = {}): Promise<Stores> {
  const logger = o.logger ?? silentLogger();
  if (s.url !== undefined) {
    const ttlMs = o.lease?.ttlMs ?? s.leaseTtl;
    // A leader frozen mid-transaction holds the lease row FOR SHARE: the server ends its session
    // within half a lease, so the follower's takeover is not blocked by it (a SIGSTOPped leader
    // held it for the whole freeze; the follower's lease query timed out again and again).
    const pg = new PgPool({ url: s.url, max: s.poolSize, statementTimeoutMs: s.statementTimeout, idleInTransactionTimeoutMs: Math.max(500, Math.floor((ttlMs ?? 10_000) / 2)) });
    try {
      await pg.check();
      const m = await migrate(pg);
      if (m.applied.length) logger.info({ store: pg.where, from: m.from, to: m.to }, `PostgreSQL schema migrated to version ${m.to}`);
    } catch (err) {
      await pg.end();
      throw err;
    }
    const lease = new LeaderLease({ db: pg, clock: o.clock, logger: logger.child({ component: 'lease' }), ttlMs, everyMs: o.lease?.everyMs, marginMs: o.lease?.marginMs, holder: o.lease?.holder });
    const fence = o.fence ?? lease;
    const store = new PostgresStore(pg, { ownsPool: false, now: o.clock ? () => o.clock!.now() : undefined, fence });
    return {
      kind: 'postgres',
      store,
      alertStore: new PostgresAlertStore(pg, { fence }),
      probeStore: new PostgresProbeStore(pg, { fence }),
      learnStore: new PostgresLearnStore(pg),
      pg,
      lease,
      where: pg.where,
      async close() {
        await lease.stop();
        await pg.end();
      },
    };
  }
  // Checkpoints on a worker thread: a storm's transactions no longer copy the WAL back themselves.
  // Commits on a writer thread: a storm's transactions leave the event loop.
  const store = new SqliteStore(s.path, {
    checkpointWorker: { onError: (message, fatal) => logger.warn({ store: s.path, fatal }, `WAL checkpoint worker: ${message}`) },
    ...(o.sqliteWriter !== false ? { writer: { onError: (message: string) => logger.error({ store: s.path }, `SQLite writer thread: ${message}`) } } : {}),
  });
  return storesOver(store, s.path);
}

/**
 * The stores over a SQLite store (the service's own, or one tests pass): the alert store's writes go
 * where the check store's go (its writer thread, when it has one).
 */
export function storesOver(store: Store, where = 'test'): Stores {
  const db = store.sqlite();
  if (!db) throw new Error('a given store must be a SQLite store (PostgreSQL comes from store.url)');
  const write = store instanceof SqliteStore ? (ops: Parameters<SqliteStore['write']>[0]) => store.write(ops) : undefined;
  return { kind: 'sqlite', store, alertStore: new SqliteAlertStore(db, write), probeStore: new SqliteProbeStore(db), learnStore: new SqliteLearnStore(db), where, close: () => store.close() };
}
