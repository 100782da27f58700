/**
 * The probe driver contract: one small interface every driver (http, stripe, sandbox) satisfies.
 * A driver performs ONE attempt; the retry policy lives in the ProbeManager (src/lib/retry.ts).
 */

/** Every driver kind. Adding one here without wiring it in registry.ts fails to compile. */
export type ProbeDriverKind = 'http' | 'stripe' | 'sandbox';

export interface ChargeRequest {
  /** Travels with the charge (metadata / body) and comes back on the event (attributes.probe_id). */
  probeId: string;
  /** One per probe, reused by every retry so a retry cannot charge twice. */
  idempotencyKey: string;
  /** Minor units (cents). */
  amountMinor: number;
  /** ISO 4217, lower case (e.g. `eur`). */
  currency: string;
  /** The check this probe proves. */
  check: string;
  /** The check's event stream, when the driver needs it (the sandbox emits onto it). */
  stream?: string;
}

export type ChargeResult =
  | { outcome: 'accepted'; reference?: string }
  | { outcome: 'refused'; code?: string; message: string };

export interface ReverseRequest extends ChargeRequest {
  /** The acquirer's reference returned by charge(). */
  reference?: string;
}

export interface ProbeDriver {
  readonly kind: ProbeDriverKind;
  /**
   * Send one charge attempt. Resolves accepted/refused; throws RetryableError (unreachable, 5xx,
   * 408/429, timeout) or PermanentError (configuration / authentication problems).
   */
  charge(req: ChargeRequest, signal?: AbortSignal): Promise<ChargeResult>;
  /**
   * Void / refund a proven charge. Uses its own idempotency key derived from req.idempotencyKey.
   * Throws RetryableError / PermanentError like charge().
   */
  reverse?(req: ReverseRequest, signal?: AbortSignal): Promise<void>;
}
