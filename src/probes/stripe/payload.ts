/**
 * Pure pieces of the Stripe driver: PaymentIntent / Refund parameters, reading a PaymentIntent,
 * and classifying stripe-node errors into our retryable / permanent / refused.
 */
import type Stripe from 'stripe';
import { PermanentError, RetryableError, parseRetryAfter, type QuietwatchError } from '../../lib/errors.ts';
import type { StripeDriverConfig } from '../config.ts';
import type { ChargeRequest, ChargeResult } from '../types.ts';

/**
 * create + confirm in one call. Redirect-based methods are disallowed
 * (`automatic_payment_methods.allow_redirects: 'never'`) so no return_url is needed server-side.
 */
export function paymentIntentParams(cfg: Pick<StripeDriverConfig, 'paymentMethod' | 'description'>, req: ChargeRequest): Stripe.PaymentIntentCreateParams {
  return {
    amount: req.amountMinor,
    currency: req.currency,
    confirm: true,
    payment_method: cfg.paymentMethod,
    automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
    description: cfg.description,
    metadata: { probe_id: req.probeId, check: req.check },
  };
}

/** The refund's own idempotency key, derived from the charge's. */
export const refundIdempotencyKey = (chargeKey: string): string => `${chargeKey}-refund`;

export function refundParams(paymentIntentId: string, req: ChargeRequest): Stripe.RefundCreateParams {
  return { payment_intent: paymentIntentId, metadata: { probe_id: req.probeId, check: req.check } };
}

/** A confirmed PaymentIntent: succeeded / processing / requires_capture mean the charge went through. */
export function readPaymentIntent(pi: Pick<Stripe.PaymentIntent, 'id' | 'status' | 'last_payment_error'>): ChargeResult {
  switch (pi.status) {
    case 'succeeded':
    case 'processing':
    case 'requires_capture':
      return { outcome: 'accepted', reference: pi.id };
    case 'requires_action':
      return { outcome: 'refused', code: 'requires_action', message: `payment intent ${pi.id} needs authentication (3DS); use a test card that does not` };
    default: {
      const e = pi.last_payment_error;
      return {
        outcome: 'refused',
        code: e?.decline_code ?? e?.code ?? pi.status,
        message: e?.message ?? `payment intent ${pi.id} ended ${pi.status}`,
      };
    }
  }
}

/** The fields of a stripe-node error we read (StripeError and subclasses). */
export interface StripeErrorLike {
  type?: string;
  rawType?: string;
  statusCode?: number;
  code?: string;
  decline_code?: string;
  message?: string;
  requestId?: string;
  headers?: Record<string, string>;
}

export type StripeErrorReading = { kind: 'refused'; result: ChargeResult } | { kind: 'error'; error: QuietwatchError };

/**
 * card_error (402) -> refused; connection / 5xx / 429 / 409 -> retryable; 401/403/400/404 -> permanent.
 * `redact` scrubs any secret the remote might echo. The stripe error is not kept as `cause`
 * (it carries raw headers); a plain summary is.
 */
export function classifyStripeError(err: unknown, redact: (s: string) => string = (s) => s): StripeErrorReading {
  const e = (err ?? {}) as StripeErrorLike;
  const message = redact(e.message ?? String(err));
  const summary = { type: e.type, code: e.code, statusCode: e.statusCode, requestId: e.requestId };
  if (e.type === 'StripeCardError' || e.rawType === 'card_error' || e.statusCode === 402) {
    const code = e.decline_code ?? e.code;
    return { kind: 'refused', result: code ? { outcome: 'refused', code, message } : { outcome: 'refused', message } };
  }
  if (e.type === 'StripeConnectionError') {
    const timeout = /timeout/i.test(e.message ?? '');
    return { kind: 'error', error: new RetryableError(timeout ? 'STRIPE_TIMEOUT' : 'STRIPE_NETWORK', `stripe unreachable: ${message}`, { cause: summary }) };
  }
  const status = e.statusCode;
  if (status === 429 || status === 409 || (status !== undefined && status >= 500) || e.type === 'StripeRateLimitError' || e.type === 'StripeAPIError') {
    return {
      kind: 'error',
      error: new RetryableError(`STRIPE_HTTP_${status ?? 'API'}`, `stripe answered ${status ?? '?'}: ${message}`, {
        cause: summary,
        retryAfterMs: parseRetryAfter(e.headers?.['retry-after']),
      }),
    };
  }
  if (status === 401 || e.type === 'StripeAuthenticationError') {
    return { kind: 'error', error: new PermanentError('STRIPE_AUTH', `stripe rejected the API key: ${message}`, { cause: summary }) };
  }
  if (e.type && e.type.startsWith('Stripe')) {
    return { kind: 'error', error: new PermanentError(`STRIPE_HTTP_${status ?? 'ERROR'}`, `stripe answered ${status ?? '?'}: ${message}`, { cause: summary }) };
  }
  return { kind: 'error', error: new RetryableError('STRIPE_NETWORK', `stripe call failed: ${message}`, { cause: summary }) };
}
