/** What is stored about each probe, and the small async interface the ProbeManager uses. */

import type { ProbeReason } from '../checks/types.ts';

/** Why a probe fired: the engine's own type (one list of reasons). */
export type { ProbeReason };
export type ProbeResult = 'pending' | 'accepted' | 'proven' | 'lost' | 'refused' | 'error' | 'skipped-budget';

export interface ProbeRecord {
  id: string;
  check: string;
  reason: ProbeReason;
  /** Driver name (probes.drivers.<name>). */
  driver: string;
  /** One per probe, persisted before the first charge attempt; every retry reuses it. */
  idempotencyKey: string;
  /** When the engine decided to probe. */
  firedAt: number;
  /** When the synthetic transaction must have been seen. */
  deadline: number;
  /** When the attempt that got an answer was sent (latency runs from here). */
  chargedAt?: number;
  result: ProbeResult;
  /** Charge sent -> event seen. */
  latencyMs?: number;
  /** The acquirer's reference (payment intent id, charge id). */
  reference?: string;
  /** What the probe cost (0 when no charge went through). */
  costMinor: number;
  currency: string;
  error?: string;
  attempts: number;
  /** When the matching event was seen, or when the probe was declared lost. */
  settledAt?: number;
  reversedAt?: number;
  reversalError?: string;
}

/** One budget a reservation must fit in: at most `limit` charges fired at or after `since`. */
export interface BudgetLimit {
  scope: 'check' | 'global';
  window: 'hour' | 'day';
  limit: number;
  since: number;
}

/** What reserve() decided, atomically in the store. */
export type Reservation =
  /** The record is stored `pending`: the charge may be sent. */
  | { kind: 'reserved' }
  /** Another probe of the check is in flight: nothing stored, nothing charged. */
  | { kind: 'in-flight'; other: string }
  /** A budget is used up: the record is stored `skipped-budget`. */
  | { kind: 'budget'; rec: ProbeRecord; breach: { scope: BudgetLimit['scope']; window: BudgetLimit['window']; limit: number; used: number } };

export interface ProbeStore {
  /**
   * Optional (stores shared by replicas): check "nothing in flight" and every budget, and store the
   * record, in one atomic step carrying the leader's fencing token — the budget is checked and
   * consumed together, and a replica that lost the lease cannot consume it (throws LEASE_LOST).
   */
  reserve?(rec: ProbeRecord, limits: readonly BudgetLimit[], now: number): Promise<Reservation>;
  /**
   * Optional: record a charge attempt just before it is sent, refused (throws LEASE_LOST) unless this
   * replica still holds the lease, so a paused old leader cannot charge after losing it.
   */
  claimAttempt?(id: string, patch: { attempts: number; chargedAt: number }): Promise<void>;

  insert(rec: ProbeRecord): Promise<void>;
  update(id: string, patch: Partial<Omit<ProbeRecord, 'id'>>): Promise<void>;
  get(id: string): Promise<ProbeRecord | undefined>;
  /** Newest first. */
  list(q: { check?: string; limit?: number }): Promise<ProbeRecord[]>;
  /** Probes that may have charged (every result but skipped-budget) fired at or after `since`. */
  countCharges(q: { check?: string; since: number }): Promise<number>;
  /** Every probe still `pending` (its charge was never answered: a crash, or running now). */
  listPending(): Promise<ProbeRecord[]>;
  /** A probe of `check` still pending/accepted whose deadline is after `now`. */
  findInFlight(check: string, now: number): Promise<ProbeRecord | undefined>;
}
