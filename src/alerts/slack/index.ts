/**
 * Slack through @slack/web-api: one message per incident (chat.postMessage), edited in place with
 * chat.update as it is acked and resolved, each update also posted as a thread reply. Warnings are
 * single messages. The WebClient's own retries are off: the AlertManager's policy is the one.
 */
import { z } from 'zod';
import { ErrorCode, LogLevel, WebClient, type Logger as SlackLogger } from '@slack/web-api';
import { errorForStatus, networkError, PermanentError, RetryableError, type QuietwatchError } from '../../lib/errors.ts';
import { Secret } from '../../lib/secret.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Notification, Notifier, Receipt } from '../types.ts';
import { scrub } from '../scrub.ts';
import { buildSlackMessage, buildThreadReply } from './payload.ts';

export const slackConfigSchema = z.object({
  type: z.literal('slack'),
  /** Bot token (xoxb-…). */
  token: z.string().min(1),
  /** Channel id (C0123…) or name. */
  channel: z.string().min(1),
  /** Web API base URL; tests point it at a local contract server. */
  apiUrl: z.url().default('https://slack.com/api/'),
  /** Prefix for pages and reminders, e.g. `<!here>` or `<!subteam^S0123>`. */
  mention: z.string().optional(),
  timeoutMs: z.number().int().positive().default(10_000),
});
export type SlackConfig = z.infer<typeof slackConfigSchema>;

/** Slack `error` values that retrying will not fix. */
export const SLACK_PERMANENT_ERRORS = new Set([
  'invalid_auth',
  'not_authed',
  'account_inactive',
  'token_revoked',
  'token_expired',
  'no_permission',
  'missing_scope',
  'channel_not_found',
  'not_in_channel',
  'is_archived',
  'restricted_action',
  'invalid_blocks',
  'invalid_arguments',
  'msg_too_long',
  'too_many_attachments',
]);
/** Slack `error` values worth retrying. */
export const SLACK_RETRYABLE_ERRORS = new Set([
  'ratelimited',
  'rate_limited',
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
]);

export interface SlackOptions {
  name: string;
  token: Secret;
  channel: string;
  apiUrl?: string;
  mention?: string;
  timeoutMs: number;
  logger?: Logger;
}

/** The metadata event type that carries our client-side key on every message we post. */
export const SLACK_METADATA_EVENT = 'quietwatch_notification';
/** How far before a notification's creation a lookup searches the channel (clock skew margin). */
const LOOKUP_MARGIN_S = 300;

export class SlackNotifier implements Notifier {
  readonly kind = 'slack' as const;
  readonly name: string;
  readonly #client: WebClient;
  readonly #token: Secret;
  readonly #channel: string;
  readonly #mention?: string;
  readonly #log?: Logger;
  /**
   * Posts attempted and not known to have succeeded (intent recorded before the call). A post that
   * timed out may have been processed by Slack: before posting the same key again, the channel (or
   * thread) is searched for it. (In memory: a resend by the outbox after a restart is not searched.)
   */
  readonly #attempted = new Set<string>();
  /** When this notifier was made: a notification older than that is a resend after a restart. */
  readonly #since = Date.now();

  constructor(opts: SlackOptions) {
    this.#log = opts.logger?.child({ notifier: opts.name });
    this.name = opts.name;
    this.#token = opts.token;
    this.#channel = opts.channel;
    this.#mention = opts.mention;
    this.#client = new WebClient(opts.token.reveal(), {
      slackApiUrl: opts.apiUrl ?? 'https://slack.com/api/',
      timeout: opts.timeoutMs,
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      logger: slackLogger(opts.logger),
      logLevel: LogLevel.WARN,
    });
  }

  static fromConfig(name: string, c: SlackConfig, logger?: Logger): SlackNotifier {
    return new SlackNotifier({
      name,
      token: new Secret(c.token),
      channel: c.channel,
      apiUrl: c.apiUrl,
      mention: c.mention,
      timeoutMs: c.timeoutMs,
      logger,
    });
  }

  async send(n: Notification, prior?: Receipt): Promise<Receipt> {
    const msg = buildSlackMessage(n, { mention: this.#mention });
    const root = prior?.channel && prior?.ts ? { channel: prior.channel, ts: prior.ts } : undefined;

    if (n.action === 'warning' || !root) {
      return this.#postOnce(`${n.id}:top`, n, { channel: this.#channel, text: msg.text, blocks: msg.blocks });
    }
    if (n.action !== 'reminder') {
      try {
        await this.#call('chat.update', { channel: root.channel, ts: root.ts, text: msg.text, blocks: msg.blocks });
      } catch (err) {
        // The original message is gone (deleted by hand): start a new one for this incident.
        if ((err as QuietwatchError).code === 'SLACK_MESSAGE_NOT_FOUND' || (err as QuietwatchError).code === 'SLACK_CANT_UPDATE_MESSAGE') {
          return this.#postOnce(`${n.id}:repost`, n, { channel: this.#channel, text: msg.text, blocks: msg.blocks });
        }
        throw err;
      }
    }
    await this.#postOnce(`${n.id}:reply`, n, {
      channel: root.channel,
      thread_ts: root.ts,
      text: buildThreadReply(n),
      reply_broadcast: n.action === 'reminder' || n.action === 'resolve',
    });
    return root;
  }

  /**
   * chat.postMessage at most once per key: the key rides in the message's metadata, and a retry
   * (or a resend after a restart) first looks for it in the channel's history, or the thread's
   * replies, and returns the message found instead of posting a copy.
   */
  async #postOnce(suffix: string, n: Notification, args: Record<string, unknown>): Promise<Receipt> {
    const key = `${this.name}:${suffix}`;
    const channel = String(args.channel);
    // Attempted in this process, or made before it started (a resend from the outbox after a crash:
    // the post may have gone through just before it): look before posting.
    if (this.#attempted.has(key) || n.createdAt < this.#since) {
      const found = await this.#lookup(key, channel, n.createdAt, args.thread_ts === undefined ? undefined : String(args.thread_ts));
      if (found) {
        this.#log?.info({ key, ts: found.ts }, 'slack: the earlier post went through; not posting it again');
        return found;
      }
    }
    this.#attempted.add(key);
    const r = await this.#call('chat.postMessage', { ...args, metadata: { event_type: SLACK_METADATA_EVENT, event_payload: { key } } });
    this.#attempted.delete(key);
    return { channel: String(r.channel ?? channel), ts: String(r.ts) };
  }

  /** The message we posted under `key`, if Slack has it. A failed lookup is not fatal: we post. */
  async #lookup(key: string, channel: string, createdAt: number, threadTs?: string): Promise<Receipt | undefined> {
    try {
      const base = { channel, include_all_metadata: true, limit: 200 };
      const r = threadTs
        ? await this.#call('conversations.replies', { ...base, ts: threadTs })
        : await this.#call('conversations.history', { ...base, oldest: String(Math.floor(createdAt / 1000) - LOOKUP_MARGIN_S) });
      const messages = (r.messages ?? []) as Array<{ ts?: string; metadata?: { event_type?: string; event_payload?: { key?: unknown } } }>;
      const m = messages.find((x) => x.metadata?.event_type === SLACK_METADATA_EVENT && x.metadata.event_payload?.key === key);
      return m?.ts ? { channel: String(r.channel ?? channel), ts: m.ts } : undefined;
    } catch (err) {
      // e.g. missing_scope (channels:history) or a channel given by name: a copy is better than no page.
      this.#log?.warn({ err, key }, 'slack: could not look for an earlier post; posting (a copy is possible)');
      return undefined;
    }
  }

  async #call(method: 'chat.postMessage' | 'chat.update' | 'conversations.history' | 'conversations.replies', args: Record<string, unknown>): Promise<Record<string, unknown>> {
    try {
      return (await this.#client.apiCall(method, args)) as unknown as Record<string, unknown>;
    } catch (err) {
      throw classifySlackError(err, this.#token);
    }
  }
}

/** Map a @slack/web-api error to RetryableError / PermanentError. The token never appears in the message. */
export function classifySlackError(err: unknown, token?: Secret): QuietwatchError {
  const e = err as {
    code?: string;
    data?: { error?: string; response_metadata?: { retryAfter?: number } };
    retryAfter?: number;
    statusCode?: number;
    body?: unknown;
    headers?: Record<string, string>;
    original?: unknown;
  };
  switch (e?.code) {
    case ErrorCode.PlatformError: {
      const slackErr = String(e.data?.error ?? 'unknown_error');
      const code = `SLACK_${slackErr.toUpperCase()}`;
      const msg = scrub(`slack refused the call: ${slackErr}`, token);
      if (SLACK_RETRYABLE_ERRORS.has(slackErr)) {
        const ra = e.data?.response_metadata?.retryAfter;
        return new RetryableError(code, msg, { retryAfterMs: ra !== undefined ? ra * 1000 : undefined });
      }
      return new PermanentError(code, msg);
    }
    case ErrorCode.RateLimitedError:
      return new RetryableError('SLACK_RATE_LIMITED', `slack rate-limited the call; retry after ${e.retryAfter} s`, {
        retryAfterMs: (e.retryAfter ?? 1) * 1000,
      });
    case ErrorCode.HTTPError: {
      const status = e.statusCode ?? 500;
      const detail = scrub(typeof e.body === 'string' ? e.body : JSON.stringify(e.body ?? ''), token);
      return (
        errorForStatus('slack', status, detail, e.headers?.['retry-after']) ??
        new RetryableError('SLACK_HTTP', `slack answered ${status}`)
      );
    }
    case ErrorCode.RequestError:
      return networkError('slack', e.original ?? err);
    default: {
      const name = (err as { name?: string })?.name;
      if (name === 'TimeoutError' || name === 'AbortError') return networkError('slack', err);
      return new RetryableError('SLACK_UNKNOWN', scrub(`slack call failed: ${(err as Error)?.message ?? String(err)}`, token));
    }
  }
}

function slackLogger(logger?: Logger): SlackLogger {
  let level = LogLevel.WARN;
  const out = logger?.child({ notifier: 'slack' });
  return {
    debug: () => {},
    info: () => {},
    warn: (...msg: unknown[]) => out?.warn(msg.map(String).join(' ')),
    error: (...msg: unknown[]) => out?.error(msg.map(String).join(' ')),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}
