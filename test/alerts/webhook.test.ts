import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError, RetryableError } from '../../src/lib/errors.ts';
import { Secret } from '../../src/lib/secret.ts';
import { sign, verifySignature, WebhookNotifier, buildWebhookBody } from '../../src/alerts/webhook/index.ts';
import type { Notification } from '../../src/alerts/types.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../contract/webhook-receiver.ts';

const SECRET = 'whsec-0123456789abcdef0123';
const n: Notification = {
  id: 'n1',
  incidentId: 'inc-1',
  dedupKey: 'quietwatch/inc-1/card-auth',
  action: 'trigger',
  severity: 'critical',
  check: 'card-auth',
  labels: {},
  summary: 'down',
  createdAt: 1_790_000_000_000,
  details: { reason: 'no events', state: 'down' },
};

describe('webhook signatures', () => {
  const secret = new Secret(SECRET);
  const body = buildWebhookBody(n);
  const sig = sign(secret, 1_790_000_000, body);

  it('signs `${timestamp}.${body}` with HMAC-SHA256 as v1=<hex>', () => {
    expect(sig).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(verifySignature({ secret, body, timestampHeader: '1790000000', signatureHeader: sig, nowSec: 1_790_000_010 })).toBe(true);
  });
  it('rejects a changed body, a wrong secret, an old timestamp and a missing header', () => {
    const base = { secret, body, timestampHeader: '1790000000', signatureHeader: sig, nowSec: 1_790_000_010 };
    expect(verifySignature({ ...base, body: body.replace('down', 'up') })).toBe(false);
    expect(verifySignature({ ...base, secret: new Secret('another-secret-0000000') })).toBe(false);
    expect(verifySignature({ ...base, nowSec: 1_790_000_000 + 301 })).toBe(false);
    expect(verifySignature({ ...base, signatureHeader: undefined })).toBe(false);
    expect(verifySignature({ ...base, timestampHeader: '1790000001' })).toBe(false);
  });
  it('accepts any of several signatures (secret rotation)', () => {
    expect(verifySignature({ secret, body, timestampHeader: '1790000000', signatureHeader: `v1=deadbeef, ${sig}`, nowSec: 1_790_000_000 })).toBe(true);
  });
});

describe('WebhookNotifier against a receiver', () => {
  let rx: WebhookReceiver;
  beforeAll(async () => {
    rx = await startWebhookReceiver({ secret: SECRET });
  });
  afterAll(() => rx.close());

  it('posts the notification as signed JSON the receiver can verify', async () => {
    const w = new WebhookNotifier({ name: 'hook', url: rx.url, secret: new Secret(SECRET), timeoutMs: 2000, headers: { 'x-team': 'payments' } });
    await expect(w.send(n)).resolves.toEqual({ status: '204' });
    const got = rx.received.at(-1)!;
    expect(got.verified).toBe(true);
    expect(got.json).toEqual({ version: 1, notification: n });
    expect(got.headers['x-team']).toBe('payments');
  });

  it('gets 401 (permanent) with the wrong secret', async () => {
    const w = new WebhookNotifier({ name: 'hook', url: rx.url, secret: new Secret('wrong-secret-00000000'), timeoutMs: 2000 });
    const err = await w.send(n).catch((e) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.code).toBe('WEBHOOK_HTTP_401');
  });

  it('retries 500 and 429 (with Retry-After), and times out a hang', async () => {
    const w = new WebhookNotifier({ name: 'hook', url: rx.url, secret: new Secret(SECRET), timeoutMs: 150 });
    rx.script({ status: 500 }, { status: 429, retryAfter: '5' }, { hang: true });
    await expect(w.send(n)).rejects.toBeInstanceOf(RetryableError);
    const e429 = await w.send(n).catch((e) => e);
    expect(e429.retryAfterMs).toBe(5000);
    const eHang = await w.send(n).catch((e) => e);
    expect(eHang.code).toBe('WEBHOOK_TIMEOUT');
  });
});
