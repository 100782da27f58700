/** JSON to any URL, signed with HMAC-SHA256 (see ./sign.ts), for in-house tools. */
import { z } from 'zod';
import { errorForStatus, networkError } from '../../lib/errors.ts';
import { Secret } from '../../lib/secret.ts';
import type { Notification, Notifier, Receipt } from '../types.ts';
import { scrub } from '../scrub.ts';
import { sign, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './sign.ts';

export { sign, verifySignature, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './sign.ts';

export const webhookConfigSchema = z.object({
  type: z.literal('webhook'),
  url: z.url(),
  /** HMAC key shared with the receiver. */
  secret: z.string().min(16, 'use a webhook secret of at least 16 characters'),
  /** Extra headers (e.g. Authorization for a gateway); values are treated as secrets. */
  headers: z.record(z.string(), z.string()).default({}),
  timeoutMs: z.number().int().positive().default(10_000),
});
export type WebhookConfig = z.infer<typeof webhookConfigSchema>;

/** The JSON body: the notification itself, versioned. Pure. */
export function buildWebhookBody(n: Notification): string {
  return JSON.stringify({ version: 1, notification: n });
}

export class WebhookNotifier implements Notifier {
  readonly kind = 'webhook' as const;
  readonly name: string;
  readonly #url: string;
  readonly #secret: Secret;
  /** Extra headers may carry credentials (Authorization): kept as secrets. */
  readonly #headers: Record<string, Secret>;
  readonly #timeoutMs: number;
  readonly #nowSec: () => number;

  constructor(opts: {
    name: string;
    url: string;
    secret: Secret;
    headers?: Record<string, string | Secret>;
    timeoutMs: number;
    nowSec?: () => number;
  }) {
    this.name = opts.name;
    this.#url = opts.url;
    this.#secret = opts.secret;
    this.#headers = Object.fromEntries(
      Object.entries(opts.headers ?? {}).map(([k, v]) => [k, typeof v === 'string' ? new Secret(v) : v]),
    );
    this.#timeoutMs = opts.timeoutMs;
    this.#nowSec = opts.nowSec ?? (() => Math.floor(Date.now() / 1000));
  }

  static fromConfig(name: string, c: WebhookConfig): WebhookNotifier {
    return new WebhookNotifier({ name, url: c.url, secret: new Secret(c.secret), headers: c.headers, timeoutMs: c.timeoutMs });
  }

  async send(n: Notification): Promise<Receipt> {
    const body = buildWebhookBody(n);
    const ts = String(this.#nowSec());
    let res: Response;
    let text: string;
    try {
      res = await fetch(this.#url, {
        method: 'POST',
        headers: {
          ...Object.fromEntries(Object.entries(this.#headers).map(([k, v]) => [k, v.reveal()])),
          'content-type': 'application/json',
          'user-agent': 'quietwatch',
          [TIMESTAMP_HEADER]: ts,
          [SIGNATURE_HEADER]: sign(this.#secret, ts, body),
          'X-Quietwatch-Notification-Id': n.id,
        },
        body,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      throw networkError('webhook', err);
    }
    const err = errorForStatus('webhook', res.status, scrub(text, this.#secret, ...Object.values(this.#headers)), res.headers.get('retry-after'));
    if (err) throw err;
    return { status: String(res.status) };
  }
}
