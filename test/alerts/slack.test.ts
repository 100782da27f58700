import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PermanentError, RetryableError } from '../../src/lib/errors.ts';
import { Secret } from '../../src/lib/secret.ts';
import { buildSlackMessage, buildThreadReply } from '../../src/alerts/slack/payload.ts';
import { SlackNotifier } from '../../src/alerts/slack/index.ts';
import { SlackWebhookNotifier } from '../../src/alerts/slack-webhook/index.ts';
import type { Notification } from '../../src/alerts/types.ts';
import { startSlackContract, type SlackContract } from '../contract/slack.ts';
import { SLACK_TOKEN } from './helpers.ts';

const n: Notification = {
  id: 'n1',
  incidentId: 'inc-1',
  dedupKey: 'quietwatch/inc-1/card-auth',
  action: 'trigger',
  severity: 'critical',
  check: 'card-auth',
  labels: { team: 'payments' },
  summary: 'no card authorisations for 4m <script>',
  // Made now, by this process: a notification older than the notifier is a resend after a restart, and is looked up before posting (test/hardening/slack-duplicate.test.ts).
  createdAt: Date.now() + 60_000,
  details: { reason: 'no events for 240 s', state: 'down', silenceMs: 240_000, normal: '1 event every 0.8 s', runbookUrl: 'https://runbooks.example/x' },
};

describe('Slack payloads', () => {
  it('renders the incident message with what on-call needs, escaping mrkdwn control characters', () => {
    const m = buildSlackMessage(n, { mention: '<!here>' });
    expect(m.text).toBe('<!here> [DOWN] card-auth: no card authorisations for 4m <script>');
    const section = (m.blocks[0] as { text: { text: string } }).text.text;
    expect(section).toContain('&lt;script&gt;');
    expect(section).toContain('silent for: 4m (normal: 1 event every 0.8 s)');
    expect(section).toContain('runbook: https://runbooks.example/x');
  });
  it('says when a page was escalated', () => {
    const m = buildSlackMessage({ ...n, details: { ...n.details, escalated: true } });
    expect(m.text).toContain('DOWN (escalated)');
    expect(buildThreadReply({ ...n, details: { ...n.details, escalated: true } })).toMatch(/fallback route/);
  });
  it('writes short thread replies for updates', () => {
    expect(buildThreadReply({ ...n, action: 'acknowledge', details: { ...n.details, ackedBy: 'ana' } })).toBe('Acknowledged by ana.');
    expect(buildThreadReply({ ...n, action: 'resolve', details: { ...n.details, reason: 'events are back' } })).toBe('Resolved: events are back');
  });
});

describe('SlackNotifier against the contract server', () => {
  let slack: SlackContract;
  beforeAll(async () => {
    slack = await startSlackContract({ token: SLACK_TOKEN, channels: ['C0ALERTS'] });
  });
  afterAll(() => slack.close());
  beforeEach(() => {
    slack.calls.length = 0;
    slack.setDown(undefined);
  });
  const notifier = (token = SLACK_TOKEN, channel = 'C0ALERTS', timeoutMs = 2000) =>
    new SlackNotifier({ name: 'slack', token: new Secret(token), channel, apiUrl: slack.apiUrl, timeoutMs });

  it('posts one message per incident, then edits it in place and replies in its thread', async () => {
    const s = notifier();
    const receipt = await s.send(n);
    expect(receipt).toEqual({ channel: 'C0ALERTS', ts: expect.any(String) });
    expect(await s.send({ ...n, action: 'acknowledge', details: { ...n.details, ackedBy: 'ana' } }, receipt)).toEqual(receipt);
    expect(await s.send({ ...n, action: 'resolve', details: { ...n.details, reason: 'back' } }, receipt)).toEqual(receipt);
    const msg = slack.messages.get(receipt.ts)!;
    expect(msg.edits).toBe(2);
    expect(msg.text).toContain('[RESOLVED]');
    expect(slack.replies(receipt.ts).map((r) => r.text)).toEqual(['Acknowledged by ana.', 'Resolved: back']);
    expect(slack.calls.map((c) => c.method)).toEqual(['chat.postMessage', 'chat.update', 'chat.postMessage', 'chat.update', 'chat.postMessage']);
    expect(slack.calls.every((c) => c.authorization === `Bearer ${SLACK_TOKEN}`)).toBe(true);
    expect(slack.calls[0]!.contentType).toContain('application/x-www-form-urlencoded');
  });

  it('posts a warning as a single message', async () => {
    const r = await notifier().send({ ...n, action: 'warning', incidentId: undefined, details: { ...n.details, warningKind: 'quiet' } });
    expect(slack.calls).toHaveLength(1);
    expect(slack.messages.get(r.ts)!.text).toContain('[WARNING (quiet)]');
  });

  it('starts a new message when the original was deleted', async () => {
    const r = await notifier().send({ ...n, action: 'resolve' }, { channel: 'C0ALERTS', ts: '1.000001-gone' });
    expect(r.ts).not.toBe('1.000001-gone');
    expect(slack.calls.map((c) => c.outcome)).toEqual(['message_not_found', 'ok']);
  });

  it.each([
    ['invalid_auth', 'xoxb-wrong', 'C0ALERTS', 'SLACK_INVALID_AUTH'],
    ['channel_not_found', SLACK_TOKEN, 'C0NOPE', 'SLACK_CHANNEL_NOT_FOUND'],
  ])('treats %s as permanent', async (_e, token, channel, code) => {
    const err = await notifier(token, channel).send(n).catch((e) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.code).toBe(code);
    expect(slack.calls).toHaveLength(1);
  });

  it.each(['not_authed', 'account_inactive'])('treats %s as permanent', async (error) => {
    slack.script({ error });
    const err = await notifier().send(n).catch((e) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.code).toBe(`SLACK_${error.toUpperCase()}`);
  });

  it('treats 429 as retryable, honours Retry-After and does not retry by itself', async () => {
    slack.script({ status: 429, retryAfter: '3' });
    const err = await notifier().send(n).catch((e) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.code).toBe('SLACK_RATE_LIMITED');
    expect(err.retryAfterMs).toBe(3000);
    expect(slack.calls).toHaveLength(1);
  });

  it('treats ok:false ratelimited as retryable', async () => {
    slack.script({ error: 'ratelimited' });
    const err = await notifier().send(n).catch((e) => e);
    expect(err).toBeInstanceOf(RetryableError);
  });

  it('treats 5xx as retryable without the client retrying', async () => {
    slack.script({ status: 503 });
    const err = await notifier().send(n).catch((e) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.code).toBe('SLACK_HTTP_503');
    expect(slack.calls).toHaveLength(1);
  });

  it('times out a hanging Slack, retryably', async () => {
    slack.script({ hang: true });
    const t0 = Date.now();
    const err = await notifier(SLACK_TOKEN, 'C0ALERTS', 150).send(n).catch((e) => e);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.code).toBe('SLACK_TIMEOUT');
  });
});

describe('SlackWebhookNotifier', () => {
  let slack: SlackContract;
  beforeAll(async () => {
    slack = await startSlackContract({ token: SLACK_TOKEN });
  });
  afterAll(() => slack.close());

  it('posts every update as a new message (a webhook cannot edit)', async () => {
    const w = new SlackWebhookNotifier({ name: 'hook', url: new Secret(slack.webhookUrl), timeoutMs: 2000 });
    await w.send(n);
    await w.send({ ...n, action: 'resolve' });
    expect(slack.webhookPosts.map((p) => String(p.text))).toEqual([
      '[DOWN] card-auth: no card authorisations for 4m <script>',
      '[RESOLVED] card-auth: no card authorisations for 4m <script>',
    ]);
  });

  it('classifies a wrong URL as permanent and 429 / 500 as retryable', async () => {
    const bad = new SlackWebhookNotifier({ name: 'hook', url: new Secret(slack.webhookUrl.replace('/B000/', '/B999/')), timeoutMs: 2000 });
    await expect(bad.send(n)).rejects.toBeInstanceOf(PermanentError);
    const w = new SlackWebhookNotifier({ name: 'hook', url: new Secret(slack.webhookUrl), timeoutMs: 2000 });
    slack.script({ status: 429, retryAfter: '2' });
    const e429 = await w.send(n).catch((e) => e);
    expect(e429).toBeInstanceOf(RetryableError);
    expect(e429.retryAfterMs).toBe(2000);
    slack.script({ status: 500 });
    await expect(w.send(n)).rejects.toBeInstanceOf(RetryableError);
  });
});
