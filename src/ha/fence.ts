/**
 * Fencing: what a store needs from the leader lease to refuse a stale leader's claims.
 *
 * Every claim that sends or charges — an outbox row taken for sending, a probe's budget reservation,
 * each charge attempt — is a conditional statement in PostgreSQL that also requires the lease row to
 * still carry this replica's token and not to have lapsed. A leader that was paused (SIGSTOP, a long
 * GC, a partition) past its lease finds its token superseded and its claim refused, even if it has
 * not noticed yet that it lost the lease.
 */
import { PermanentError } from '../lib/errors.ts';

export const LEASE_NAME = 'leader';

export interface Fence {
  /** The fencing token while this replica believes it leads; undefined when it does not. */
  token(): number | undefined;
  /** The time to compare the lease's expiry with (epoch ms); undefined: the database's own clock. */
  now(): number | undefined;
}

/** A claim was refused: this replica does not hold the lease (or its token was superseded). */
export class NotLeaderError extends PermanentError {
  /** An API write reaching a follower answers 503 with this message (Fastify reads statusCode). */
  readonly statusCode = 503;
  constructor(message: string) {
    super('LEASE_LOST', message);
  }
}

/** The database's clock in epoch ms, for when no clock is injected. */
export const DB_NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

/** SQL for "now": the injected clock's value in parameter $n, else the database's clock. */
export const nowSql = (n: number): string => `COALESCE($${n}::bigint, ${DB_NOW_MS})`;

/**
 * SQL condition: the lease `name` ($nameParam) still has token $tokenParam and has not lapsed at $nowParam.
 * Used inside a conditional UPDATE/INSERT … WHERE.
 */
export const fenceSql = (nameParam: number, tokenParam: number, nowParam: number): string =>
  `EXISTS (SELECT 1 FROM qw_lease WHERE name = $${nameParam} AND token = $${tokenParam}::bigint AND expires_at > ${nowSql(nowParam)})`;

/** The token to claim with, or a NotLeaderError when this replica does not lead. */
export function requireToken(fence: Fence, doing: string): number {
  const t = fence.token();
  if (t === undefined) throw new NotLeaderError(`not the leader: refusing to ${doing}`);
  return t;
}

/** A fence with a fixed token (tests; and the single-process case where a lease is held for good). */
export function staticFence(token: number | undefined, now?: () => number): Fence {
  return { token: () => token, now: () => now?.() };
}
