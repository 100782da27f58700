/**
 * Issue 16 item 7: a chat.postMessage that Slack processed but never answered (the client timed
 * out) must not be posted again. The retry looks the message up by its client-side key (message
 * metadata) in conversations.history and adopts it. Real service, Slack contract server.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startSlackContract, type SlackContract } from '../contract/slack.ts';
import { waitFor } from '../helpers/process.ts';
import { startService, type Running } from '../helpers/service.ts';

const SLACK_TOKEN = 'xoxb-test-token-0123456789';
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(): Promise<{ slack: SlackContract; s: Running }> {
  const slack = await startSlackContract({ token: SLACK_TOKEN, channels: ['C0PAYMENTS'] });
  cleanups.push(() => slack.close());
  const s = await startService(
    `
alerts:
  notifiers:
    team: { type: slack, token: "\${SLACK_TOKEN}", channel: C0PAYMENTS, apiUrl: "${slack.apiUrl}", timeoutMs: 400 }
  routes: { default: { warning: [], page: [team] } }
  retry: { minDelay: 50ms, maxDelay: 200ms }
checks:
  - { name: cards, quietAfter: 300ms, pageAfter: 700ms }
`,
    { env: { SLACK_TOKEN } },
  );
  cleanups.push(() => s.close());
  return { slack, s };
}

const posts = (slack: SlackContract) => slack.calls.filter((c) => c.method === 'chat.postMessage');

describe('Slack: one message after a processed timeout', () => {
  it('a DOWN post processed by Slack but never answered is found in the history, not posted again; the recovery edits that message', async () => {
    const { slack, s } = await setup();
    slack.script({ processThenHang: true });
    await s.fetch('/v1/streams/cards/ping', { method: 'POST' });
    // The first post lands (and hangs); the retry finds it by its key and adopts it.
    await waitFor(() => (slack.calls.some((c) => c.method === 'conversations.history') ? true : undefined), 10_000);
    await waitFor(async () => ((await s.fetch('/v1/alerts/health')).body.pendingPages === 0 ? true : undefined), 10_000);
    await new Promise((r) => setTimeout(r, 500)); // room for a wrong extra post
    expect(slack.topLevel()).toHaveLength(1);
    expect(posts(slack)).toHaveLength(1);
    expect(posts(slack)[0]!.outcome).toBe('processed-then-hang:ok');
    const msg = slack.topLevel()[0]!;
    expect(msg.text).toMatch(/cards/);
    expect(msg.metadata).toMatchObject({ event_type: 'quietwatch_notification' });
    // Traffic returns: the same message is edited (the adopted ts is the incident's receipt).
    await s.fetch('/v1/streams/cards/ping', { method: 'POST' });
    await waitFor(() => (msg.edits >= 1 ? true : undefined), 10_000);
    expect(slack.topLevel()).toHaveLength(1);
  }, 30_000);

  it('a post that was never processed is posted once on the retry', async () => {
    const { slack, s } = await setup();
    slack.script({ hang: true });
    await s.fetch('/v1/streams/cards/ping', { method: 'POST' });
    await waitFor(() => (slack.topLevel().length >= 1 ? true : undefined), 10_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(slack.topLevel()).toHaveLength(1);
    expect(slack.calls.map((c) => c.method)).toEqual(['chat.postMessage', 'conversations.history', 'chat.postMessage']);
  }, 30_000);
});

describe('Slack: a resend after a restart', () => {
  it('a notification made before this process (resent from the outbox) is looked up first, never posted twice', async () => {
    const { SlackNotifier } = await import('../../src/alerts/slack/index.ts');
    const { Secret } = await import('../../src/lib/secret.ts');
    const slack = await startSlackContract({ token: SLACK_TOKEN, channels: ['C0PAYMENTS'] });
    cleanups.push(() => slack.close());
    const make = () => new SlackNotifier({ name: 'team', token: new Secret(SLACK_TOKEN), channel: 'C0PAYMENTS', apiUrl: slack.apiUrl, timeoutMs: 1000 });
    const n = { id: 'n-restart', incidentId: 'inc-9', dedupKey: 'quietwatch/inc-9/cards', action: 'trigger' as const, severity: 'critical' as const, check: 'cards', labels: {}, summary: 'cards is down', createdAt: Date.now(), details: { reason: 'silent', state: 'down' } };
    // The first process posts, and dies before it could store the receipt.
    const first = await make().send(n);
    await new Promise((r) => setTimeout(r, 5));
    // After the restart the outbox resends the same notification through a new notifier.
    const again = await make().send(n);
    expect(again.ts).toBe(first.ts);
    expect(slack.topLevel()).toHaveLength(1);
    expect(posts(slack)).toHaveLength(1);
  });
});
