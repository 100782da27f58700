import { describe, expect, it } from 'vitest';
import { Secret } from '../../src/lib/secret.ts';
import { checkProbeSchema, globalBudgetSchema, probeDriverConfigSchema, probesConfigSchema } from '../../src/probes/config.ts';

const issues = (r: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }) =>
  (r.error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.message}`);

describe('probeDriverConfigSchema', () => {
  it('parses an http driver with defaults, durations in ms and headers as Secrets', () => {
    const c = probeDriverConfigSchema.parse({
      type: 'http',
      url: 'https://acq.example/v1/charges',
      headers: { Authorization: 'Bearer abc', 'X-Api-Key': new Secret('k') },
      body: { amount: '{{amount}}', probe_id: '{{probeId}}' },
      timeout: '5s',
      referencePath: 'data.id',
    });
    if (c.type !== 'http') throw new Error('type');
    expect(c.method).toBe('POST');
    expect(c.timeout).toBe(5000);
    expect(c.successStatus).toEqual([200, 201]);
    expect(c.declineStatus).toEqual([402]);
    expect(c.idempotencyHeader).toBe('Idempotency-Key');
    expect(c.headers.Authorization).toBeInstanceOf(Secret);
    expect(c.headers.Authorization!.reveal()).toBe('Bearer abc');
    expect(JSON.stringify(c)).not.toContain('Bearer abc');
  });

  it('reports every problem at once with its path', () => {
    const r = probeDriverConfigSchema.safeParse({
      type: 'http',
      url: 'ftp://nope',
      body: { a: '{{reference}}', b: '{{amount}}' },
      timeout: 'soon',
      reverse: { url: 'https://acq.example/v1/charges/{{reference}}/void', body: { why: '{{bogus}}' } },
    });
    expect(r.success).toBe(false);
    const msgs = issues(r);
    expect(msgs.some((m) => m.startsWith('url:'))).toBe(true);
    expect(msgs.some((m) => m.startsWith('body:') && m.includes('{{reference}}'))).toBe(true);
    expect(msgs.some((m) => m.startsWith('timeout:'))).toBe(true);
    expect(msgs.some((m) => m.startsWith('reverse.body:') && m.includes('{{bogus}}'))).toBe(true);
  });

  it('refuses a live stripe key unless allowed, without printing it', () => {
    const r = probeDriverConfigSchema.safeParse({ type: 'stripe', apiKey: 'sk_live_supersecret' });
    expect(r.success).toBe(false);
    expect(issues(r).join('\n')).toContain('apiKey');
    expect(JSON.stringify(r.error)).not.toContain('supersecret');
    const ok = probeDriverConfigSchema.parse({ type: 'stripe', apiKey: 'sk_test_abc', host: 'localhost', port: 12111, protocol: 'http' });
    if (ok.type !== 'stripe') throw new Error('type');
    expect(ok.paymentMethod).toBe('pm_card_visa');
    expect(ok.timeout).toBe(20_000);
  });

  it('parses a sandbox driver', () => {
    expect(probeDriverConfigSchema.parse({ type: 'sandbox' })).toEqual({ type: 'sandbox', cardToken: 'tok_sandbox_probe' });
  });
});

describe('checkProbeSchema', () => {
  it('applies defaults: probe_id correlation, backoff x2 to 1h, per-check budget', () => {
    expect(checkProbeSchema.parse({ driver: 'sandbox' })).toEqual({
      driver: 'sandbox',
      amount: 100,
      currency: 'gbp',
      timeout: 60_000,
      correlate: { attribute: 'probe_id' },
      backoff: { factor: 2, max: 3_600_000 },
      budget: { perHour: 6, perDay: 48 },
    });
    const p = checkProbeSchema.parse({ driver: 'sandbox', amount: 150, currency: 'EUR', timeout: '90s', backoff: { max: '30m' } });
    expect(p).toMatchObject({ currency: 'eur', timeout: 90_000, backoff: { factor: 2, max: 1_800_000 } });
  });

  it('learnTimeout: true takes the defaults (3 x the slowest of 20 proofs, at least 10 s); its fields are checked and named', () => {
    expect(checkProbeSchema.parse({ driver: 'd' }).learnTimeout).toBeUndefined();
    expect(checkProbeSchema.parse({ driver: 'd', learnTimeout: true }).learnTimeout).toEqual({ factor: 3, min: 10_000, proofs: 20 });
    expect(checkProbeSchema.parse({ driver: 'd', learnTimeout: { factor: 4, min: '5s' } }).learnTimeout).toEqual({ factor: 4, min: 5_000, proofs: 20 });
    const bad = checkProbeSchema.safeParse({ driver: 'd', learnTimeout: { factor: 1, proofs: 2 } });
    expect(bad.success).toBe(false);
    const paths = bad.error!.issues.flatMap((i) => ('errors' in i ? (i as unknown as { errors: { path: PropertyKey[] }[][] }).errors.flat().map((e) => [...i.path, ...e.path].join('.')) : [i.path.join('.')]));
    expect(paths.join(' ')).toMatch(/learnTimeout/);
    expect(checkProbeSchema.safeParse({ driver: 'd', learnTimeout: false }).success).toBe(false);
  });

  it('card-token correlation names the attributes to read', () => {
    const p = checkProbeSchema.parse({ driver: 'd', correlate: { cardToken: 'tok_probe' } });
    expect(p.correlate).toEqual({ cardToken: 'tok_probe', cardTokenAttribute: 'card_token', amountAttribute: 'amount' });
  });

  it('caps the amount so a typo cannot charge real money', () => {
    expect(checkProbeSchema.safeParse({ driver: 'd', amount: 1_000_000 }).success).toBe(false);
  });

  it('validates the cron expression and the time zone', () => {
    const bad = checkProbeSchema.safeParse({ driver: 'd', amount: 1, currency: 'usd', timeout: '1m', schedule: { cron: 'every day', timezone: 'Mars/Base' } });
    const msgs = issues(bad);
    expect(msgs.some((m) => m.startsWith('schedule.cron'))).toBe(true);
    expect(msgs.some((m) => m.startsWith('schedule.timezone'))).toBe(true);
    const good = checkProbeSchema.parse({ driver: 'd', amount: 1, currency: 'usd', timeout: '1m', schedule: { cron: '0 3 * * *', timezone: 'Europe/Berlin' } });
    expect(good.schedule).toEqual({ cron: '0 3 * * *', timezone: 'Europe/Berlin' });
    expect(checkProbeSchema.parse({ driver: 'd', schedule: { cron: '0 3 * * *' } }).schedule).toEqual({ cron: '0 3 * * *', timezone: 'UTC' });
  });
});

describe('budgets', () => {
  it('global budget has defaults', () => {
    expect(globalBudgetSchema.parse(undefined)).toEqual({ perHour: 30, perDay: 200 });
    expect(probesConfigSchema.parse(undefined)).toEqual({ drivers: {}, budget: { perHour: 30, perDay: 200 } });
  });
});
