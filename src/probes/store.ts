/** What is stored about each probe, and the small async interface the ProbeManager uses. */

export type ProbeReason = 'quiet' | 'schedule' | 'manual' | 'rate-drop';
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

export interface ProbeStore {
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
