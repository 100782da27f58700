import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret } from '../../src/lib/secret.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { PagerDutyNotifier } from '../../src/alerts/pagerduty/index.ts';
import { SlackNotifier } from '../../src/alerts/slack/index.ts';
import { SlackWebhookNotifier } from '../../src/alerts/slack-webhook/index.ts';
import { WebhookNotifier } from '../../src/alerts/webhook/index.ts';
import { SnsNotifier } from '../../src/alerts/sns/index.ts';
import { AlertManager } from '../../src/alerts/manager.ts';
import type { Notification } from '../../src/alerts/types.ts';
import { startPagerDutyContract, type PagerDutyContract } from '../contract/pagerduty.ts';
import { startSlackContract, type SlackContract } from '../contract/slack.ts';
import { startSnsFixture, type SnsFixture } from './fauxqs.ts';
import { expectNoSecretLeak, startEchoServer } from './no-secret-leak.ts';
import { captureLogger, memoryStore, waitFor } from './helpers.ts';

const PD_SECRET = 'PDSECRET0123456789abcdefghijklmn'; // 32 characters
const SLACK_SECRET = 'xoxb-999-SLACKSECRET-zzzzzzzzzzzz';
const HOOK_PATH_SECRET = 'T0SECRET/B0SECRET/HOOKSECRETHOOKSECRET';
const WEBHOOK_SECRET = 'whsec-SUPERSECRET-0123456789';
const AWS_SECRET = 'AWSSECRETACCESSKEY/abcdefghijklmnopqrstu';
const GATEWAY_SECRET = 'gateway-bearer-SECRET-0123456789';

const n: Notification = {
  id: 'n1',
  incidentId: 'inc-1',
  dedupKey: 'quietwatch/inc-1/c',
  action: 'trigger',
  severity: 'critical',
  check: 'c',
  labels: {},
  summary: 'down',
  createdAt: 0,
  details: { reason: 'x', state: 'down' },
};

let echo400: Awaited<ReturnType<typeof startEchoServer>>;
let echo500: Awaited<ReturnType<typeof startEchoServer>>;
let pd: PagerDutyContract;
let slack: SlackContract;
let sns: SnsFixture;
beforeAll(async () => {
  echo400 = await startEchoServer(400);
  echo500 = await startEchoServer(500);
  pd = await startPagerDutyContract({ validKeys: ['A'.repeat(32)] });
  slack = await startSlackContract({ token: 'xoxb-the-right-token' });
  sns = await startSnsFixture('leak');
});
afterAll(async () => {
  await echo400.close();
  await echo500.close();
  await pd.close();
  await slack.close();
  await sns.close();
});

describe('no notifier leaks its secret', () => {
  const pdNotifier = (url: string, timeoutMs = 1000) =>
    new PagerDutyNotifier({ name: 'pd', routingKey: new Secret(PD_SECRET), eventsUrl: url, timeoutMs, source: 's' });

  it.each([
    ['contract 400 (invalid routing key)', () => pd.url],
    ['echoing 400', () => `${echo400.url}/v2/enqueue`],
    ['echoing 500', () => `${echo500.url}/v2/enqueue`],
    ['refused', () => 'http://127.0.0.1:1/v2/enqueue'],
  ])('PagerDuty: %s', async (_name, url) => {
    await expectNoSecretLeak({ secrets: [PD_SECRET], action: () => pdNotifier(url()).send(n) });
  });

  it('PagerDuty: timeout', async () => {
    pd.script({ hang: true });
    await expectNoSecretLeak({ secrets: [PD_SECRET], action: () => pdNotifier(pd.url, 100).send(n) });
  });

  const slackNotifier = (apiUrl: string, logger = captureLogger()) =>
    new SlackNotifier({ name: 'slack', token: new Secret(SLACK_SECRET), channel: 'C0ALERTS', apiUrl, timeoutMs: 500, logger: logger.logger });

  it.each([
    ['contract invalid_auth', () => slack.apiUrl],
    ['echoing 500 (echoes the Authorization header)', () => `${echo500.url}/api/`],
    ['echoing 400', () => `${echo400.url}/api/`],
    ['refused', () => 'http://127.0.0.1:1/api/'],
  ])('Slack: %s', async (_name, url) => {
    const cap = captureLogger();
    await expectNoSecretLeak({ secrets: [SLACK_SECRET], action: () => slackNotifier(url(), cap).send(n), logs: () => cap.lines });
  });

  it.each([
    ['echoing 400 (echoes the URL)', () => `${echo400.url}/services/${HOOK_PATH_SECRET}`],
    ['echoing 500', () => `${echo500.url}/services/${HOOK_PATH_SECRET}`],
    ['refused', () => `http://127.0.0.1:1/services/${HOOK_PATH_SECRET}`],
  ])('Slack webhook: %s', async (_name, url) => {
    await expectNoSecretLeak({
      secrets: [HOOK_PATH_SECRET],
      action: () => new SlackWebhookNotifier({ name: 'hook', url: new Secret(url()), timeoutMs: 500 }).send(n),
    });
  });

  it.each([
    ['echoing 400', () => echo400.url],
    ['echoing 500', () => echo500.url],
    ['refused', () => 'http://127.0.0.1:1/'],
  ])('webhook (with an Authorization header the receiver echoes): %s', async (_name, url) => {
    await expectNoSecretLeak({
      secrets: [WEBHOOK_SECRET, GATEWAY_SECRET],
      action: () =>
        new WebhookNotifier({
          name: 'hook',
          url: url(),
          secret: new Secret(WEBHOOK_SECRET),
          headers: { authorization: `Bearer ${GATEWAY_SECRET}` },
          timeoutMs: 500,
        }).send(n),
    });
  });

  it.each([
    ['missing topic', () => sns.endpoint, () => sns.topicArn.replace(/:[^:]+$/, ':nope')],
    ['echoing 500', () => echo500.url, () => sns.topicArn],
    ['refused', () => 'http://127.0.0.1:1', () => sns.topicArn],
  ])('SNS: %s', async (_name, endpoint, topicArn) => {
    const s = new SnsNotifier({
      name: 'sms',
      topicArn: topicArn(),
      region: 'us-east-1',
      endpoint: endpoint(),
      credentials: { accessKeyId: 'AKIATEST', secretAccessKey: new Secret(AWS_SECRET) },
      timeoutMs: 1000,
    });
    await expectNoSecretLeak({ secrets: [AWS_SECRET], action: () => s.send(n) });
  });

  it('the AlertManager logs failures without secrets', async () => {
    const cap = captureLogger('debug');
    const { db, store } = memoryStore();
    const clock = new ManualClock(Date.now());
    const m = new AlertManager({
      store,
      notifiers: {
        pd: pdNotifier(`${echo400.url}/v2/enqueue`),
        slack: slackNotifier(`${echo500.url}/api/`, cap),
        hook: new SlackWebhookNotifier({ name: 'hook', url: new Secret(`${echo500.url}/services/${HOOK_PATH_SECRET}`), timeoutMs: 500 }),
        web: new WebhookNotifier({ name: 'web', url: echo500.url, secret: new Secret(WEBHOOK_SECRET), timeoutMs: 500 }),
      },
      routes: { default: { warning: [], page: ['pd', 'slack', 'hook', 'web'] }, overrides: [] },
      clock,
      logger: cap.logger,
      retry: { minDelayMs: 10_000, maxDelayMs: 10_000, maxAttempts: 2, deadlineMs: 60_000 },
    });
    await m.start();
    await m.checkDown({ check: 'c', at: clock.now(), reason: 'x' });
    await waitFor(() => cap.lines.filter((l) => l.includes('notification failed')).length >= 4, 5000, 'four failures logged');
    const health = await m.health();
    await m.stop();
    db.close();
    const all = [...cap.lines, JSON.stringify(health)].join('\n');
    for (const s of [PD_SECRET, SLACK_SECRET, HOOK_PATH_SECRET, WEBHOOK_SECRET]) expect(all.includes(s), s).toBe(false);
    expect(all).toContain('PAGERDUTY_INVALID_EVENT'); // the classified failure is there
  });
});
