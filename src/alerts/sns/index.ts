/**
 * AWS SNS (SDK v3) as the fallback route: SMS / email subscribers when PagerDuty cannot be reached.
 * The SDK (about 0.2 s to load) is loaded on the first send, not when the config names the notifier.
 */
import { z } from 'zod';
import type { PublishCommandInput, SNSClient } from '@aws-sdk/client-sns';
import { networkError, PermanentError, RetryableError, type QuietwatchError } from '../../lib/errors.ts';
import { Secret } from '../../lib/secret.ts';
import type { Notification, Notifier, Receipt } from '../types.ts';
import { headline, plainText, truncate } from '../format.ts';
import { scrub } from '../scrub.ts';

export const snsConfigSchema = z.object({
  type: z.literal('sns'),
  topicArn: z.string().startsWith('arn:', 'an SNS topic ARN starts with arn:'),
  region: z.string().min(1).default('us-east-1'),
  /** Custom endpoint (a VPC endpoint, a local emulator). */
  endpoint: z.url().optional(),
  /** Static credentials; omit to use the default AWS provider chain (env, profile, instance role). */
  accessKeyId: z.string().optional(),
  secretAccessKey: z.string().optional(),
  sessionToken: z.string().optional(),
  timeoutMs: z.number().int().positive().default(10_000),
});
export type SnsConfig = z.infer<typeof snsConfigSchema>;

/** SNS Subject is limited to 100 ASCII printable characters; SMS bodies are short. Pure. */
export function buildSnsPublish(n: Notification, topicArn: string): PublishCommandInput {
  const subject = truncate(headline(n).replace(/[^\x20-\x7e]/g, '?'), 100);
  return {
    TopicArn: topicArn,
    Subject: subject,
    Message: truncate(plainText(n), 200_000),
    MessageAttributes: {
      action: { DataType: 'String', StringValue: n.action },
      check: { DataType: 'String', StringValue: n.check },
      dedup_key: { DataType: 'String', StringValue: n.dedupKey },
    },
  };
}

export interface SnsOptions {
  name: string;
  topicArn: string;
  region: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: Secret; sessionToken?: Secret };
  timeoutMs: number;
}

export class SnsNotifier implements Notifier {
  readonly kind = 'sns' as const;
  readonly name: string;
  #client: Promise<{ client: SNSClient; PublishCommand: typeof import('@aws-sdk/client-sns').PublishCommand }> | undefined;
  readonly #opts: SnsOptions;
  readonly #topicArn: string;
  readonly #timeoutMs: number;
  readonly #secrets: (Secret | undefined)[];

  constructor(opts: SnsOptions) {
    this.name = opts.name;
    this.#topicArn = opts.topicArn;
    this.#timeoutMs = opts.timeoutMs;
    this.#secrets = [opts.credentials?.secretAccessKey, opts.credentials?.sessionToken];
    this.#opts = opts;
  }

  #sdk() {
    this.#client ??= import('@aws-sdk/client-sns').then(({ SNSClient, PublishCommand }) => {
      const opts = this.#opts;
      const creds = opts.credentials;
      const client = new SNSClient({
        region: opts.region,
        endpoint: opts.endpoint,
        maxAttempts: 1, // our retry policy is the one
        credentials: creds
          ? async () => ({
              accessKeyId: creds.accessKeyId,
              secretAccessKey: creds.secretAccessKey.reveal(),
              sessionToken: creds.sessionToken?.reveal(),
            })
          : undefined,
      });
      return { client, PublishCommand };
    });
    return this.#client;
  }

  static fromConfig(name: string, c: SnsConfig): SnsNotifier {
    const credentials =
      c.accessKeyId && c.secretAccessKey
        ? {
            accessKeyId: c.accessKeyId,
            secretAccessKey: new Secret(c.secretAccessKey),
            sessionToken: c.sessionToken ? new Secret(c.sessionToken) : undefined,
          }
        : undefined;
    return new SnsNotifier({ name, topicArn: c.topicArn, region: c.region, endpoint: c.endpoint, credentials, timeoutMs: c.timeoutMs });
  }

  async send(n: Notification): Promise<Receipt> {
    try {
      const { client, PublishCommand } = await this.#sdk();
      const out = await client.send(new PublishCommand(buildSnsPublish(n, this.#topicArn)), {
        abortSignal: AbortSignal.timeout(this.#timeoutMs),
      });
      return { message_id: out.MessageId ?? '' };
    } catch (err) {
      throw this.#classify(err);
    }
  }

  #classify(err: unknown): QuietwatchError {
    const e = err as { name?: string; message?: string; $fault?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
    const status = e.$metadata?.httpStatusCode;
    const msg = scrub(`sns publish failed: ${e.name ?? 'Error'}${status ? ` (${status})` : ''}: ${e.message ?? ''}`.slice(0, 400), ...this.#secrets);
    if (status === undefined) return networkError('sns', err);
    const code = `SNS_${String(e.name ?? 'ERROR').toUpperCase()}`;
    if (e.$fault === 'server' || status === 429 || status >= 500 || e.$retryable || /Throttl/i.test(e.name ?? '')) {
      return new RetryableError(code, msg);
    }
    return new PermanentError(code, msg);
  }
}
