/**
 * Webhook signatures: HMAC-SHA256 over `${timestamp}.${body}`, sent as
 * `X-Quietwatch-Timestamp: <unix seconds>` and `X-Quietwatch-Signature: v1=<hex>`. Pure.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Secret } from '../../lib/secret.ts';

export const TIMESTAMP_HEADER = 'X-Quietwatch-Timestamp';
export const SIGNATURE_HEADER = 'X-Quietwatch-Signature';

export function sign(secret: Secret, timestamp: number | string, body: string): string {
  return `v1=${createHmac('sha256', secret.reveal()).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * For receivers: true when `signatureHeader` (may hold several comma-separated `v1=` values during a
 * secret rotation) matches the body and the timestamp is within `toleranceSec` of `nowSec`.
 */
export function verifySignature(opts: {
  secret: Secret;
  body: string;
  timestampHeader: string | undefined | null;
  signatureHeader: string | undefined | null;
  nowSec: number;
  toleranceSec?: number;
}): boolean {
  const ts = Number(opts.timestampHeader);
  if (!opts.timestampHeader || !Number.isFinite(ts)) return false;
  if (Math.abs(opts.nowSec - ts) > (opts.toleranceSec ?? 300)) return false;
  if (!opts.signatureHeader) return false;
  const expected = Buffer.from(sign(opts.secret, opts.timestampHeader, opts.body));
  return opts.signatureHeader
    .split(',')
    .map((s) => Buffer.from(s.trim()))
    .some((got) => got.length === expected.length && timingSafeEqual(got, expected));
}
