/**
 * The PostgreSQL connection pool (node-postgres `pg`): one pool per process, shared by every store.
 *
 *  - BIGINT columns (epoch milliseconds, fencing tokens) come back as numbers, not strings;
 *  - every statement has a server-side `statement_timeout`, and a connection attempt a timeout;
 *  - optionally, a session idle inside a transaction is ended by the server (a frozen leader's locks);
 *  - the URL's password never appears in an error or a log line: errors name the host, port,
 *    database and user (`redactUrl`), and any message that carries the password is scrubbed.
 */
import pg from 'pg';
import { PermanentError, QuietwatchError, RetryableError } from '../lib/errors.ts';
import type { Secret } from '../lib/secret.ts';

export interface PgOptions {
  url: string | Secret;
  /** Pool size. Default 10. */
  max?: number;
  /** Server-side statement timeout, ms. Default 5000. */
  statementTimeoutMs?: number;
  /**
   * Server-side `idle_in_transaction_session_timeout`, ms (default: none). A process frozen inside a
   * transaction (SIGSTOP, a stalled VM) keeps its row locks — the fenced writes hold the lease row
   * FOR SHARE — so the follower's takeover would wait on them for as long as the freeze lasts: the
   * server ends such a session after this long and its locks go with it.
   */
  idleInTransactionTimeoutMs?: number;
  /** Connection attempt timeout, ms. Default 5000. */
  connectTimeoutMs?: number;
  /** Shown in pg_stat_activity. */
  applicationName?: string;
}

const INT8 = 20;
const NUMERIC = 1700;
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8 || oid === NUMERIC) return (v: string) => (v === null ? null : Number(v));
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

/** Where a URL points, without its password: `postgres://user@host:port/db`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '';
    const user = u.username ? `${decodeURIComponent(u.username)}@` : '';
    return `${u.protocol}//${user}${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
  } catch {
    return '<unparseable store url>';
  }
}

export interface PgTarget {
  host: string;
  port: number;
  database: string;
  user: string;
}

export function pgTarget(url: string): PgTarget {
  const u = new URL(url);
  return {
    host: decodeURIComponent(u.hostname || 'localhost'),
    port: Number(u.port || 5432),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || decodeURIComponent(u.username) || 'postgres',
    user: decodeURIComponent(u.username || 'postgres'),
  };
}

export const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//i.test(url);

/** The store cannot be reached (start-up, or a query while PostgreSQL is down): retryable. */
export class StoreUnavailableError extends RetryableError {
  constructor(message: string, cause?: unknown) {
    super('STORE_UNAVAILABLE', message, { cause });
  }
}

/** The database holds a schema newer than this quietwatch knows: never touch it. */
export class SchemaTooNewError extends PermanentError {
  constructor(message: string) {
    super('STORE_SCHEMA_TOO_NEW', message);
  }
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/** True for errors that mean "the database is not there" (as opposed to a bad query). */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  if (!e) return false;
  if (e instanceof StoreUnavailableError) return true;
  if (e.code && CONNECTION_CODES.has(e.code)) return true;
  // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 08xxx connection exceptions
  if (e.code && (/^08/.test(e.code) || /^57P0[123]$/.test(e.code))) return true;
  const m = e.message ?? '';
  return /Connection terminated|connection timeout|timeout expired|Client has encountered a connection error|terminating connection/i.test(m);
}

export class PgPool {
  readonly pool: pg.Pool;
  readonly target: PgTarget;
  readonly where: string;
  readonly #password: string;

  constructor(o: PgOptions) {
    const url = typeof o.url === 'string' ? o.url : o.url.reveal();
    if (!isPostgresUrl(url)) throw new PermanentError('STORE_BAD_URL', `store.url must start with postgres:// or postgresql:// (got ${redactUrl(url)})`);
    this.target = pgTarget(url);
    this.where = redactUrl(url);
    this.#password = decodeURIComponent(new URL(url).password ?? '');
    this.pool = new pg.Pool({
      connectionString: url,
      max: o.max ?? 10,
      connectionTimeoutMillis: o.connectTimeoutMs ?? 5000,
      idleTimeoutMillis: 30_000,
      statement_timeout: o.statementTimeoutMs ?? 5000,
      ...(o.idleInTransactionTimeoutMs ? { idle_in_transaction_session_timeout: o.idleInTransactionTimeoutMs } : {}),
      // a client-side bound too, for a server that stopped answering without closing the socket
      query_timeout: (o.statementTimeoutMs ?? 5000) + 2000,
      application_name: o.applicationName ?? 'quietwatch',
      types,
    });
    // An idle client losing its connection (server restart) must not crash the process.
    this.pool.on('error', () => undefined);
  }

  /** Scrub the password out of any text (driver messages can quote connection parameters). */
  scrub(text: string): string {
    if (!this.#password || this.#password.length < 3) return text;
    return text.split(this.#password).join('<secret>');
  }

  /** A typed error for a failure talking to the database; the password never appears in it. */
  wrap(err: unknown, doing: string): QuietwatchError {
    if (err instanceof QuietwatchError) return err;
    const e = err as { code?: string; message?: string };
    const detail = this.scrub(`${e?.code ? `${e.code} ` : ''}${e?.message ?? String(err)}`);
    if (isConnectionError(err)) {
      return new StoreUnavailableError(`PostgreSQL at ${this.target.host}:${this.target.port} (database ${this.target.database}) is unreachable while ${doing}: ${detail}`, scrubbed(err, this));
    }
    return new RetryableError('STORE_QUERY_FAILED', `PostgreSQL query failed while ${doing}: ${detail}`, { cause: scrubbed(err, this) });
  }

  async query<R extends pg.QueryResultRow = Record<string, unknown>>(text: string, values: unknown[] = [], doing = 'querying'): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (err) {
      throw this.wrap(err, doing);
    }
  }

  /** Run fn in one transaction (BEGIN … COMMIT; ROLLBACK on any error). */
  async tx<T>(fn: (c: pg.PoolClient) => Promise<T>, doing = 'committing'): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw this.wrap(err, doing);
    }
    let broken = false;
    // A connection lost while checked out is emitted as 'error' on the client, besides failing the
    // query: without a listener it would crash the process.
    const onError = () => (broken = true);
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      broken = isConnectionError(err);
      if (!broken) await client.query('ROLLBACK').catch(() => (broken = true));
      throw err instanceof QuietwatchError ? err : this.wrap(err, doing);
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  /** Connect once, proving the server answers; a clear error naming host and port when it does not. */
  async check(): Promise<void> {
    try {
      await this.pool.query('SELECT 1');
    } catch (err) {
      const e = err as { code?: string; message?: string };
      const detail = this.scrub(`${e?.code ? `${e.code} ` : ''}${e?.message ?? String(err)}`);
      const { host, port, database, user } = this.target;
      if (isConnectionError(err)) {
        throw new StoreUnavailableError(`cannot reach PostgreSQL at ${host}:${port} (database ${database}, user ${user}): ${detail}`, scrubbed(err, this));
      }
      // wrong password, unknown database, no permission: retrying will not help
      throw new PermanentError('STORE_CONNECT_FAILED', `PostgreSQL at ${host}:${port} refused quietwatch (database ${database}, user ${user}): ${detail}`, { cause: scrubbed(err, this) });
    }
  }

  async end(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}

/** A copy of a driver error that carries no password (its message scrubbed, no config attached). */
function scrubbed(err: unknown, p: PgPool): Error {
  const e = err as { code?: string; message?: string; name?: string };
  const out = new Error(p.scrub(e?.message ?? String(err)));
  out.name = e?.name ?? 'Error';
  if (e?.code) (out as Error & { code?: string }).code = e.code;
  return out;
}
