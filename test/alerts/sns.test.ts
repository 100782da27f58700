import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError, RetryableError } from '../../src/lib/errors.ts';
import { Secret } from '../../src/lib/secret.ts';
import { buildSnsPublish, SnsNotifier, snsConfigSchema } from '../../src/alerts/sns/index.ts';
import type { Notification } from '../../src/alerts/types.ts';
import { AWS_TEST_CREDS, startSnsFixture, type SnsFixture } from './fauxqs.ts';

const n: Notification = {
  id: 'n1',
  incidentId: 'inc-1',
  dedupKey: 'quietwatch/inc-1/card-auth',
  action: 'trigger',
  severity: 'critical',
  check: 'card-auth',
  labels: {},
  summary: 'no card authorisations for 4m — ünïcode',
  createdAt: 1_790_000_000_000,
  details: { reason: 'no events for 240 s', state: 'down', escalated: true },
};

describe('buildSnsPublish', () => {
  it('keeps the subject to 100 printable ASCII characters', () => {
    const p = buildSnsPublish({ ...n, summary: 'x'.repeat(300) }, 'arn:aws:sns:us-east-1:000000000000:t');
    expect(p.Subject!.length).toBeLessThanOrEqual(100);
    expect(buildSnsPublish(n, 'arn:x').Subject).toMatch(/^[\x20-\x7e]+$/);
    expect(p.MessageAttributes!.dedup_key!.StringValue).toBe(n.dedupKey);
  });
});

describe('SnsNotifier against fauxqs', () => {
  let f: SnsFixture;
  beforeAll(async () => {
    f = await startSnsFixture();
  });
  afterAll(() => f.close());

  const notifier = (topicArn = f.topicArn) =>
    SnsNotifier.fromConfig(
      'sms',
      snsConfigSchema.parse({ type: 'sns', topicArn, endpoint: f.endpoint, region: 'us-east-1', ...AWS_TEST_CREDS, timeoutMs: 2000 }),
    );

  it('publishes to the topic; a subscribed queue receives the message', async () => {
    const r = await notifier().send(n);
    expect(r.message_id).toBeTruthy();
    const got = await f.drain(1);
    expect(got).toHaveLength(1);
    expect(got[0]!.Subject).toBe('[DOWN (escalated)] card-auth: no card authorisations for 4m ? ?n?code');
    expect(got[0]!.Message).toContain('escalated: the page could not be delivered in time');
  });

  it('treats a missing topic as permanent', async () => {
    const err = await notifier(f.topicArn.replace(/:[^:]+$/, ':no-such-topic')).send(n).catch((e) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.code).toMatch(/^SNS_/);
  });

  it('treats an unreachable endpoint as retryable', async () => {
    const s = new SnsNotifier({
      name: 'sms',
      topicArn: f.topicArn,
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:1',
      credentials: { accessKeyId: AWS_TEST_CREDS.accessKeyId, secretAccessKey: new Secret(AWS_TEST_CREDS.secretAccessKey) },
      timeoutMs: 1000,
    });
    const err = await s.send(n).catch((e) => e);
    expect(err).toBeInstanceOf(RetryableError);
  });
});
