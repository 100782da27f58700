/**
 * The Stripe driver: the official SDK in test mode. A PaymentIntent created and confirmed in one
 * call with the configured test PaymentMethod; refund on reverse(). The SDK's own retries are off
 * (maxNetworkRetries: 0) so the ProbeManager's policy is the one. The SDK is loaded on first use:
 * a service without a Stripe probe (and every CLI command) starts without paying for it.
 */
import type Stripe from 'stripe';
import { PermanentError } from '../../lib/errors.ts';
import type { StripeDriverConfig } from '../config.ts';
import { redactSecrets } from '../redact.ts';
import type { ChargeRequest, ChargeResult, ProbeDriver, ReverseRequest } from '../types.ts';
import { classifyStripeError, paymentIntentParams, readPaymentIntent, refundIdempotencyKey, refundParams } from './payload.ts';

export class StripeProbeDriver implements ProbeDriver {
  readonly kind = 'stripe' as const;
  readonly #cfg: StripeDriverConfig;
  #client: Promise<Stripe> | undefined;

  constructor(cfg: StripeDriverConfig) {
    this.#cfg = cfg;
  }

  #stripe(): Promise<Stripe> {
    this.#client ??= import('stripe').then(({ default: StripeSdk }) => {
      const cfg = this.#cfg;
      const opts: Stripe.StripeConfig = { maxNetworkRetries: 0, timeout: cfg.timeout, telemetry: false };
      if (cfg.host) opts.host = cfg.host;
      if (cfg.port) opts.port = cfg.port;
      if (cfg.protocol) opts.protocol = cfg.protocol;
      return new StripeSdk(cfg.apiKey.reveal(), opts);
    });
    return this.#client;
  }

  #redact = (s: string): string => redactSecrets(s, [this.#cfg.apiKey]);

  async charge(req: ChargeRequest, signal?: AbortSignal): Promise<ChargeResult> {
    if (signal?.aborted) throw new PermanentError('PROBE_ABORTED', 'probe aborted before the call');
    try {
      const pi = await (await this.#stripe()).paymentIntents.create(paymentIntentParams(this.#cfg, req), {
        idempotencyKey: req.idempotencyKey,
      });
      return readPaymentIntent(pi);
    } catch (err) {
      const r = classifyStripeError(err, this.#redact);
      if (r.kind === 'refused') return r.result;
      throw r.error;
    }
  }

  async reverse(req: ReverseRequest, signal?: AbortSignal): Promise<void> {
    if (!req.reference) throw new PermanentError('STRIPE_NO_REFERENCE', 'cannot refund: no payment intent id recorded');
    if (signal?.aborted) throw new PermanentError('PROBE_ABORTED', 'probe aborted before the call');
    try {
      await (await this.#stripe()).refunds.create(refundParams(req.reference, req), {
        idempotencyKey: refundIdempotencyKey(req.idempotencyKey),
      });
    } catch (err) {
      const e = err as { code?: string };
      if (e?.code === 'charge_already_refunded') return;
      const r = classifyStripeError(err, this.#redact);
      if (r.kind === 'refused') throw new PermanentError('STRIPE_REFUND_REFUSED', r.result.outcome === 'refused' ? r.result.message : 'refused');
      throw r.error;
    }
  }
}
