import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/lib/clock.ts';
import { PermanentError, RetryableError } from '../../src/lib/errors.ts';
import { Secret } from '../../src/lib/secret.ts';
import { checkProbeSchema, probeDriverConfigSchema, type HttpDriverConfig } from '../../src/probes/config.ts';
import { HttpProbeDriver } from '../../src/probes/http/driver.ts';
import { buildChargeRequest, buildReverseRequest, readChargeResponse } from '../../src/probes/http/payload.ts';
import { ProbeManager, type ProbeReport } from '../../src/probes/manager.ts';
import { SqliteProbeStore } from '../../src/probes/store-sqlite.ts';
import { ContractAcquirer } from '../contract/acquirer.ts';

const TOKEN = 'acq-token-0123456789';

function httpConfig(base: string, extra: Record<string, unknown> = {}): HttpDriverConfig {
  const c = probeDriverConfigSchema.parse({
    type: 'http',
    url: `${base}/v1/charges`,
    headers: { Authorization: `Bearer ${TOKEN}` },
    body: { amount: '{{amount}}', currency: '{{currency}}', probe_id: '{{probeId}}', card_token: 'tok_probe', description: 'quietwatch probe {{probeId}}' },
    timeout: '2s',
    referencePath: 'data.id',
    reverse: { url: `${base}/v1/charges/{{reference}}/void` },
    ...extra,
  });
  if (c.type !== 'http') throw new Error('not http');
  return c;
}

const req = (n = 1) => ({ probeId: `probe-${n}`, idempotencyKey: `key-${n}`, amountMinor: 1200, currency: 'eur', check: 'cards' });

describe('http payload builders (pure)', () => {
  const cfg = httpConfig('https://acq.example');
  it('builds the charge request: templated body with a numeric amount, idempotency header, secret headers', () => {
    const spec = buildChargeRequest(cfg, req());
    expect(spec.method).toBe('POST');
    expect(spec.url).toBe('https://acq.example/v1/charges');
    expect(JSON.parse(spec.body!)).toEqual({ amount: 1200, currency: 'eur', probe_id: 'probe-1', card_token: 'tok_probe', description: 'quietwatch probe probe-1' });
    expect(spec.headers['Idempotency-Key']).toBe('key-1');
    expect(spec.headers.Authorization).toBeInstanceOf(Secret);
    expect(spec.headers['Content-Type']).toBe('application/json');
    expect(JSON.stringify(spec)).not.toContain(TOKEN);
  });
  it('builds the reversal with {{reference}} and its own idempotency key', () => {
    const spec = buildReverseRequest(cfg, { ...req(), reference: 'ch_9' })!;
    expect(spec.url).toBe('https://acq.example/v1/charges/ch_9/void');
    expect(spec.headers['Idempotency-Key']).toBe('key-1-reverse');
  });
  it('reads success, status decline, body decline and other statuses', () => {
    expect(readChargeResponse(cfg, 201, '{"data":{"id":"ch_1"}}')).toEqual({ kind: 'result', result: { outcome: 'accepted', reference: 'ch_1' } });
    expect(readChargeResponse(cfg, 402, '{"error":{"code":"card_declined","message":"no"}}')).toEqual({
      kind: 'result',
      result: { outcome: 'refused', code: 'card_declined', message: 'no' },
    });
    const bodyDecline = httpConfig('https://acq.example', { decline: { path: 'data.status', values: ['declined'] } });
    expect(readChargeResponse(bodyDecline, 200, '{"data":{"status":"declined"}}')).toMatchObject({ kind: 'result', result: { outcome: 'refused' } });
    expect(readChargeResponse(cfg, 503, 'busy')).toEqual({ kind: 'status', status: 503 });
  });
});

describe('http driver against the contract acquirer', () => {
  let acq: ContractAcquirer;
  beforeEach(async () => {
    acq = await ContractAcquirer.start({ token: TOKEN });
  });
  afterEach(async () => {
    await acq.close();
  });

  it('charges: the acquirer validates the request and the reference is extracted', async () => {
    const d = new HttpProbeDriver(httpConfig(acq.url));
    const txs: unknown[] = [];
    acq.onTransaction((tx) => txs.push(tx));
    await expect(d.charge(req())).resolves.toEqual({ outcome: 'accepted', reference: 'ch_1' });
    expect(acq.charges).toHaveLength(1);
    expect(acq.charges[0]).toMatchObject({ id: 'ch_1', idempotencyKey: 'key-1', amount: 1200, currency: 'eur', probeId: 'probe-1', cardToken: 'tok_probe' });
    expect(txs).toEqual([expect.objectContaining({ attributes: expect.objectContaining({ probe_id: 'probe-1', card_token: 'tok_probe', amount: '1200' }) })]);
  });

  it('a decline (402) is refused with the acquirer code', async () => {
    acq.script('decline');
    const d = new HttpProbeDriver(httpConfig(acq.url));
    await expect(d.charge(req())).resolves.toEqual({ outcome: 'refused', code: 'card_declined', message: 'The card was declined' });
    expect(acq.charges).toHaveLength(0);
  });

  it('500 is retryable, 401 is permanent, 400 is permanent', async () => {
    const d = new HttpProbeDriver(httpConfig(acq.url));
    acq.script('fail-500');
    await expect(d.charge(req())).rejects.toBeInstanceOf(RetryableError);
    const unauth = new HttpProbeDriver(httpConfig(acq.url, { headers: { Authorization: 'Bearer wrong-token-xyz' } }));
    await expect(unauth.charge(req(2))).rejects.toBeInstanceOf(PermanentError);
    const noAmount = new HttpProbeDriver(httpConfig(acq.url, { body: { currency: '{{currency}}', probe_id: '{{probeId}}' } }));
    await expect(noAmount.charge(req(3))).rejects.toMatchObject({ code: 'ACQUIRER_HTTP_400' });
  });

  it('reverses with the reference', async () => {
    const d = new HttpProbeDriver(httpConfig(acq.url));
    const r = await d.charge(req());
    await d.reverse!({ ...req(), reference: r.outcome === 'accepted' ? r.reference : undefined });
    expect(acq.reversals).toEqual([{ reference: 'ch_1', idempotencyKey: 'key-1-reverse' }]);
  });
});

describe('ProbeManager + http driver: retries are idempotent', () => {
  let acq: ContractAcquirer;
  let db: Database.Database;
  beforeEach(async () => {
    acq = await ContractAcquirer.start({ token: TOKEN });
    db = new Database(':memory:');
  });
  afterEach(async () => {
    await acq.close();
    db.close();
  });

  const options = checkProbeSchema.parse({ driver: 'acq', amount: 1200, currency: 'eur', timeout: '90s' });

  function manager(cfg: HttpDriverConfig, reports: [string, ProbeReport][]) {
    return new ProbeManager({
      store: new SqliteProbeStore(db),
      drivers: { acq: new HttpProbeDriver(cfg) },
      globalBudget: { perHour: 100, perDay: 1000 },
      clock: systemClock,
      onResult: (id, r) => reports.push([id, r]),
      retry: { minDelayMs: 20, maxDelayMs: 100, maxAttempts: 6 },
    });
  }

  it('a 500 then success charges exactly once, every attempt with the same idempotency key', async () => {
    acq.script('fail-500');
    const reports: [string, ProbeReport][] = [];
    const m = manager(httpConfig(acq.url), reports);
    const rec = await m.fire({ check: 'cards', probeId: 'p1', reason: 'quiet', deadline: Date.now() + 10_000, options });
    expect(rec).toMatchObject({ result: 'accepted', reference: 'ch_1', attempts: 2 });
    expect(acq.charges).toHaveLength(1);
    const keys = acq.chargeAttempts().map((r) => r.headers['idempotency-key']);
    expect(keys).toEqual([rec!.idempotencyKey, rec!.idempotencyKey]);
    expect(reports).toEqual([['p1', { check: 'cards', result: 'accepted', reference: 'ch_1' }]]);
  });

  it('a lost response is retried and the acquirer replays the first answer: one charge', async () => {
    acq.script('lose-response');
    const reports: [string, ProbeReport][] = [];
    const m = manager(httpConfig(acq.url), reports);
    const rec = await m.fire({ check: 'cards', probeId: 'p1', reason: 'quiet', deadline: Date.now() + 10_000, options });
    expect(rec).toMatchObject({ result: 'accepted', reference: 'ch_1', attempts: 2 });
    expect(acq.chargeAttempts()).toHaveLength(2);
    expect(acq.charges).toHaveLength(1);
  });

  it('a hanging acquirer times out, is retried within the deadline, then reported as error', async () => {
    acq.always('hang');
    const reports: [string, ProbeReport][] = [];
    const m = manager(httpConfig(acq.url, { timeout: '150ms' }), reports);
    const start = Date.now();
    const deadline = start + 1000;
    const rec = await m.fire({ check: 'cards', probeId: 'p1', reason: 'quiet', deadline, options });
    const took = Date.now() - start;
    expect(rec!.result).toBe('error');
    expect(rec!.error).toMatch(/ACQUIRER_TIMEOUT/);
    expect(rec!.attempts).toBeGreaterThanOrEqual(2);
    // the last attempt starts before the deadline; it may run one driver timeout past it
    expect(took).toBeLessThan(1000 + 150 + 250);
    expect(new Set(acq.chargeAttempts().map((r) => r.headers['idempotency-key'])).size).toBe(1);
    expect(acq.charges).toHaveLength(0);
    expect(reports).toEqual([['p1', expect.objectContaining({ check: 'cards', result: 'error', code: 'ACQUIRER_TIMEOUT' })]]);
  });

  it('a decline is reported refused (a warning, not a page) and not retried', async () => {
    acq.script('decline');
    const reports: [string, ProbeReport][] = [];
    const m = manager(httpConfig(acq.url), reports);
    const rec = await m.fire({ check: 'cards', probeId: 'p1', reason: 'quiet', deadline: Date.now() + 10_000, options });
    expect(rec).toMatchObject({ result: 'refused', costMinor: 0, attempts: 1 });
    expect(reports[0]![1]).toMatchObject({ result: 'refused', code: 'card_declined' });
  });

  it('proven: latency recorded, then the charge is voided at the acquirer', async () => {
    const reports: [string, ProbeReport][] = [];
    const m = manager(httpConfig(acq.url), reports);
    const rec = await m.fire({ check: 'cards', probeId: 'p1', reason: 'quiet', deadline: Date.now() + 10_000, options });
    const proven = await m.proven('p1', rec!.chargedAt! + 1234);
    expect(proven).toMatchObject({ result: 'proven', latencyMs: 1234 });
    await m.idle();
    expect(acq.reversals).toEqual([{ reference: 'ch_1', idempotencyKey: `${rec!.idempotencyKey}-reverse` }]);
    expect((await m.get('p1'))!.reversedAt).toBeTypeOf('number');
  });
});
