import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/lib/clock.ts';
import { PermanentError, RetryableError } from '../../src/lib/errors.ts';
import { checkProbeSchema, probeDriverConfigSchema, type StripeDriverConfig } from '../../src/probes/config.ts';
import { ProbeManager, type ProbeReport } from '../../src/probes/manager.ts';
import { SqliteProbeStore } from '../../src/probes/store-sqlite.ts';
import { StripeProbeDriver } from '../../src/probes/stripe/driver.ts';
import { classifyStripeError, paymentIntentParams, readPaymentIntent } from '../../src/probes/stripe/payload.ts';
import { ContractStripe } from '../contract/stripe.ts';

const KEY = 'sk_test_51ContractKeyForQuietwatchProbe9f3a';

function cfg(s: ContractStripe, extra: Record<string, unknown> = {}): StripeDriverConfig {
  const c = probeDriverConfigSchema.parse({ type: 'stripe', apiKey: KEY, host: s.host, port: s.port, protocol: s.protocol, timeout: '2s', ...extra });
  if (c.type !== 'stripe') throw new Error('not stripe');
  return c;
}
const req = (n = 1) => ({ probeId: `probe-${n}`, idempotencyKey: `qw_key_${n}`, amountMinor: 150, currency: 'usd', check: 'cards' });

describe('stripe payload (pure)', () => {
  it('creates and confirms in one call with metadata and no redirects', () => {
    expect(paymentIntentParams({ paymentMethod: 'pm_card_visa', description: 'd' }, req())).toEqual({
      amount: 150,
      currency: 'usd',
      confirm: true,
      payment_method: 'pm_card_visa',
      automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
      description: 'd',
      metadata: { probe_id: 'probe-1', check: 'cards' },
    });
  });
  it('reads PaymentIntent statuses', () => {
    expect(readPaymentIntent({ id: 'pi_1', status: 'succeeded', last_payment_error: null })).toEqual({ outcome: 'accepted', reference: 'pi_1' });
    expect(readPaymentIntent({ id: 'pi_1', status: 'requires_action', last_payment_error: null })).toMatchObject({ outcome: 'refused', code: 'requires_action' });
  });
  it('classifies stripe errors', () => {
    expect(classifyStripeError({ type: 'StripeCardError', statusCode: 402, code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' })).toEqual({
      kind: 'refused',
      result: { outcome: 'refused', code: 'generic_decline', message: 'Your card was declined.' },
    });
    const c = (e: object) => {
      const r = classifyStripeError(e);
      return r.kind === 'error' ? r.error : undefined;
    };
    expect(c({ type: 'StripeConnectionError', message: 'Request aborted due to timeout being reached (2000ms)' })).toMatchObject({ code: 'STRIPE_TIMEOUT', retryable: true });
    expect(c({ type: 'StripeAPIError', statusCode: 500, message: 'boom' })).toMatchObject({ code: 'STRIPE_HTTP_500', retryable: true });
    expect(c({ type: 'StripeRateLimitError', statusCode: 429, message: 'slow', headers: { 'retry-after': '2' } })).toMatchObject({ retryable: true, retryAfterMs: 2000 });
    expect(c({ type: 'StripeAuthenticationError', statusCode: 401, message: 'bad key' })).toMatchObject({ code: 'STRIPE_AUTH', retryable: false });
    expect(c({ type: 'StripeInvalidRequestError', statusCode: 400, message: 'bad' })).toMatchObject({ code: 'STRIPE_HTTP_400', retryable: false });
  });
});

describe('stripe driver against the Stripe contract server', () => {
  let s: ContractStripe;
  beforeEach(async () => {
    s = await ContractStripe.start({ apiKey: KEY });
  });
  afterEach(async () => {
    await s.close();
  });

  it('creates a confirmed PaymentIntent with metadata.probe_id, form-encoded, with the idempotency key', async () => {
    const d = new StripeProbeDriver(cfg(s));
    await expect(d.charge(req())).resolves.toEqual({ outcome: 'accepted', reference: 'pi_1' });
    const pi = s.paymentIntents.get('pi_1')!;
    expect(pi).toMatchObject({ amount: 150, currency: 'usd', status: 'succeeded', payment_method: 'pm_card_visa', metadata: { probe_id: 'probe-1', check: 'cards' } });
    const r = s.requests[0]!;
    expect(r.headers['content-type']).toMatch(/application\/x-www-form-urlencoded/);
    expect(r.headers['idempotency-key']).toBe('qw_key_1');
    expect(r.headers.authorization).toBe(`Bearer ${KEY}`);
  });

  it('the same idempotency key replays: no second PaymentIntent', async () => {
    const d = new StripeProbeDriver(cfg(s));
    const a = await d.charge(req());
    const b = await d.charge(req());
    expect(b).toEqual(a);
    expect(s.paymentIntents.size).toBe(1);
    expect(s.succeededCharges()).toHaveLength(1);
  });

  it('a declined card (402 card_error) is refused', async () => {
    const d = new StripeProbeDriver(cfg(s, { paymentMethod: 'pm_card_chargeDeclined' }));
    await expect(d.charge(req())).resolves.toEqual({ outcome: 'refused', code: 'generic_decline', message: 'Your card was declined.' });
  });

  it('an invalid key (401) is permanent; 500 and a hang are retryable', async () => {
    const bad = new StripeProbeDriver(cfg(s, { apiKey: 'sk_test_wrongwrongwrong' }));
    const e = await bad.charge(req()).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PermanentError);
    expect(e).toMatchObject({ code: 'STRIPE_AUTH' });

    const d = new StripeProbeDriver(cfg(s, { timeout: '200ms' }));
    s.script('fail-500');
    await expect(d.charge(req(2))).rejects.toMatchObject({ code: 'STRIPE_HTTP_500', retryable: true });
    s.script('hang');
    const t = await d.charge(req(3)).catch((x: unknown) => x);
    expect(t).toBeInstanceOf(RetryableError);
    expect(t).toMatchObject({ code: 'STRIPE_TIMEOUT' });
  });

  it('refunds the PaymentIntent with its own idempotency key; a repeat is harmless', async () => {
    const d = new StripeProbeDriver(cfg(s));
    await d.charge(req());
    await d.reverse({ ...req(), reference: 'pi_1' });
    await d.reverse({ ...req(), reference: 'pi_1' });
    expect(s.refunds).toEqual([{ id: expect.stringMatching(/^re_/), payment_intent: 'pi_1', amount: 150, idempotencyKey: 'qw_key_1-refund' }]);
  });

  it('with the ProbeManager: 500 then success -> one PaymentIntent; proven -> refunded', async () => {
    const db = new Database(':memory:');
    const reports: [string, ProbeReport][] = [];
    const m = new ProbeManager({
      store: new SqliteProbeStore(db),
      drivers: { stripe: new StripeProbeDriver(cfg(s)) },
      globalBudget: { perHour: 10, perDay: 10 },
      clock: systemClock,
      onResult: (id, r) => reports.push([id, r]),
      retry: { minDelayMs: 10, maxDelayMs: 50 },
    });
    s.script('fail-500');
    const options = checkProbeSchema.parse({ driver: 'stripe', amount: 150, currency: 'usd', timeout: '2m' });
    const rec = await m.fire({ check: 'cards', probeId: 'p1', reason: 'quiet', deadline: Date.now() + 5000, options });
    expect(rec).toMatchObject({ result: 'accepted', reference: 'pi_1', attempts: 2 });
    expect(s.paymentIntents.size).toBe(1);
    await m.proven('p1', Date.now());
    await m.idle();
    expect(s.refunds.map((r) => r.payment_intent)).toEqual(['pi_1']);
    db.close();
  });
});
