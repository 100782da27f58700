/**
 * Slack incoming webhooks, for teams without a bot token. A webhook cannot edit a message, so every
 * update (ack, resolve, reminder) is posted as a new message. The webhook URL is itself a secret.
 */
import { z } from 'zod';
import { errorForStatus, networkError, RetryableError } from '../../lib/errors.ts';
import { Secret } from '../../lib/secret.ts';
import type { Notification, Notifier, Receipt } from '../types.ts';
import { scrub, urlSecretParts } from '../scrub.ts';
import { buildSlackMessage } from '../slack/payload.ts';

export const slackWebhookConfigSchema = z.object({
  type: z.literal('slack-webhook'),
  url: z.url(),
  mention: z.string().optional(),
  timeoutMs: z.number().int().positive().default(10_000),
});
export type SlackWebhookConfig = z.infer<typeof slackWebhookConfigSchema>;

/** The JSON body posted to the webhook. Pure. */
export function buildSlackWebhookBody(n: Notification, mention?: string): { text: string; blocks: Record<string, unknown>[] } {
  return buildSlackMessage(n, { mention });
}

export class SlackWebhookNotifier implements Notifier {
  readonly kind = 'slack-webhook' as const;
  readonly name: string;
  readonly #url: Secret;
  readonly #timeoutMs: number;
  readonly #mention?: string;

  constructor(opts: { name: string; url: Secret; timeoutMs: number; mention?: string }) {
    this.name = opts.name;
    this.#url = opts.url;
    this.#timeoutMs = opts.timeoutMs;
    this.#mention = opts.mention;
  }

  static fromConfig(name: string, c: SlackWebhookConfig): SlackWebhookNotifier {
    return new SlackWebhookNotifier({ name, url: new Secret(c.url), timeoutMs: c.timeoutMs, mention: c.mention });
  }

  async send(n: Notification): Promise<Receipt> {
    let res: Response;
    let text: string;
    try {
      res = await fetch(this.#url.reveal(), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(buildSlackWebhookBody(n, this.#mention)),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      throw networkError('slack-webhook', err);
    }
    const detail = scrub(text, ...urlSecretParts(this.#url.reveal()));
    const err = errorForStatus('slack-webhook', res.status, detail, res.headers.get('retry-after'));
    if (err) throw err;
    if (res.status !== 200) throw new RetryableError('SLACK-WEBHOOK_UNEXPECTED', `slack-webhook answered ${res.status}`);
    return {};
  }
}
