/**
 * PagerDuty Events API v2 on `fetch` with a timeout. Not @pagerduty/pdjs: it only takes an https host,
 * hangs ~30 s on network errors and has no request timeout (see docs/alerts.md).
 */
import { z } from 'zod';
import { errorForStatus, networkError, PermanentError, RetryableError } from '../../lib/errors.ts';
import { Secret } from '../../lib/secret.ts';
import type { Notification, Notifier, Receipt } from '../types.ts';
import { scrub } from '../scrub.ts';
import { buildPagerDutyEvent, type PagerDutyPayloadOptions } from './payload.ts';

export const PAGERDUTY_EVENTS_URL = {
  us: 'https://events.pagerduty.com/v2/enqueue',
  eu: 'https://events.eu.pagerduty.com/v2/enqueue',
} as const;

export const pagerDutyConfigSchema = z.object({
  type: z.literal('pagerduty'),
  /** The 32-character Events API v2 integration key. */
  routingKey: z.string().length(32, 'a PagerDuty routing key has 32 characters'),
  /** `us`, `eu`, or any URL (a proxy, a local contract server). */
  eventsUrl: z.union([z.enum(['us', 'eu']), z.url()]).default('us'),
  source: z.string().min(1).default('quietwatch'),
  component: z.string().optional(),
  group: z.string().optional(),
  class: z.string().optional(),
  clientUrl: z.url().optional(),
  timeoutMs: z.number().int().positive().default(10_000),
});
export type PagerDutyConfig = z.infer<typeof pagerDutyConfigSchema>;

export interface PagerDutyOptions extends PagerDutyPayloadOptions {
  name: string;
  routingKey: Secret;
  eventsUrl: string;
  timeoutMs: number;
}

export class PagerDutyNotifier implements Notifier {
  readonly kind = 'pagerduty' as const;
  readonly name: string;
  readonly #opts: PagerDutyOptions;

  constructor(opts: PagerDutyOptions) {
    this.name = opts.name;
    this.#opts = opts;
  }

  static fromConfig(name: string, c: PagerDutyConfig): PagerDutyNotifier {
    const url = c.eventsUrl === 'us' || c.eventsUrl === 'eu' ? PAGERDUTY_EVENTS_URL[c.eventsUrl] : c.eventsUrl;
    return new PagerDutyNotifier({
      name,
      routingKey: new Secret(c.routingKey),
      eventsUrl: url,
      timeoutMs: c.timeoutMs,
      source: c.source,
      component: c.component,
      group: c.group,
      class: c.class,
      client: 'quietwatch',
      clientUrl: c.clientUrl,
    });
  }

  async send(n: Notification, prior?: Receipt): Promise<Receipt> {
    if (n.action === 'warning') {
      throw new PermanentError('PAGERDUTY_UNSUPPORTED_ACTION', 'warnings are not sent to PagerDuty; fix the warning route');
    }
    const key = this.#opts.routingKey;
    const ev = buildPagerDutyEvent(n, key.reveal(), this.#opts);
    // A reminder: PagerDuty re-notifies through its own escalation policy; nothing to send.
    if (!ev) return prior ?? { dedup_key: n.dedupKey };
    let res: Response;
    try {
      res = await fetch(this.#opts.eventsUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(ev),
        signal: AbortSignal.timeout(this.#opts.timeoutMs),
      });
    } catch (err) {
      throw networkError('pagerduty', err);
    }
    let text = '';
    try {
      text = await res.text();
    } catch (err) {
      throw networkError('pagerduty', err);
    }
    if (res.status === 202 || (res.status >= 200 && res.status < 300)) {
      let dedup = ev.dedup_key;
      try {
        const body = JSON.parse(text) as { dedup_key?: string };
        if (body.dedup_key) dedup = body.dedup_key;
      } catch {
        /* a 2xx without JSON is still accepted */
      }
      return { dedup_key: dedup };
    }
    const { detail, routingKeyProblem } = describe(scrub(text, key));
    if (res.status === 400) {
      const code = routingKeyProblem ? 'PAGERDUTY_INVALID_ROUTING_KEY' : 'PAGERDUTY_INVALID_EVENT';
      throw new PermanentError(code, `pagerduty rejected the event (400): ${detail}`);
    }
    const err = errorForStatus('pagerduty', res.status, detail, res.headers.get('retry-after'));
    throw err ?? new RetryableError('PAGERDUTY_UNEXPECTED', `pagerduty answered ${res.status}`);
  }
}

/** PagerDuty's error body `{status, message, errors: [...]}` as one line. `text` is already scrubbed. */
function describe(text: string): { detail: string; routingKeyProblem: boolean } {
  try {
    const b = JSON.parse(text) as { message?: string; errors?: unknown[] };
    const errors = Array.isArray(b.errors) ? b.errors.map(String) : [];
    const parts = [b.message, ...errors].filter(Boolean) as string[];
    if (parts.length) {
      return { detail: parts.join('; ').slice(0, 300), routingKeyProblem: errors.some((e) => /routing.?key/i.test(e)) };
    }
  } catch {
    /* not JSON */
  }
  return { detail: text.slice(0, 300), routingKeyProblem: false };
}
