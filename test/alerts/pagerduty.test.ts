import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError, RetryableError } from '../../src/lib/errors.ts';
import { Secret } from '../../src/lib/secret.ts';
import { buildPagerDutyEvent } from '../../src/alerts/pagerduty/payload.ts';
import { PAGERDUTY_EVENTS_URL, PagerDutyNotifier, pagerDutyConfigSchema } from '../../src/alerts/pagerduty/index.ts';
import type { Notification } from '../../src/alerts/types.ts';
import { startPagerDutyContract, validateEvent, type PagerDutyContract } from '../contract/pagerduty.ts';
import { PD_KEY } from './helpers.ts';

const base: Notification = {
  id: 'n1',
  incidentId: 'inc-1',
  dedupKey: 'quietwatch/inc-1/card-auth',
  action: 'trigger',
  severity: 'critical',
  check: 'card-auth',
  labels: { team: 'payments', env: 'prod' },
  summary: 'no card authorisations for 4m',
  createdAt: Date.UTC(2026, 10, 29, 3, 0, 0),
  details: {
    reason: 'no events for 240 s',
    state: 'down',
    lastEventAt: Date.UTC(2026, 10, 29, 2, 56, 0),
    silenceMs: 240_000,
    normal: '1 event every 0.8 s',
    probe: { id: 'p-1', result: 'unproven', reference: 'ch_123', latencyMs: 950 },
    runbookUrl: 'https://runbooks.example/card-auth',
    dashboardUrl: 'https://grafana.example/d/card',
  },
};
const opts = { source: 'quietwatch-prod', component: 'card-auth', class: 'deadman' };

describe('buildPagerDutyEvent', () => {
  it('builds a trigger with severity, summary, custom details and links, valid for the contract', () => {
    const ev = buildPagerDutyEvent(base, PD_KEY, opts)!;
    expect(ev.event_action).toBe('trigger');
    expect(ev.dedup_key).toBe(base.dedupKey);
    expect(ev.payload).toMatchObject({
      summary: 'card-auth: no card authorisations for 4m',
      source: 'quietwatch-prod',
      severity: 'critical',
      component: 'card-auth',
      group: 'payments',
      class: 'deadman',
      timestamp: '2026-11-29T03:00:00.000Z',
    });
    expect(ev.payload!.custom_details).toMatchObject({
      last_event_at: '2026-11-29T02:56:00.000Z',
      silent_for_seconds: 240,
      normal: '1 event every 0.8 s',
      probe: { id: 'p-1', result: 'unproven', reference: 'ch_123' },
      runbook_url: 'https://runbooks.example/card-auth',
      dashboard_url: 'https://grafana.example/d/card',
    });
    expect(ev.links).toEqual([
      { href: 'https://runbooks.example/card-auth', text: 'Runbook' },
      // Opened on the incident: from 30 min before the last event to now.
      { href: `https://grafana.example/d/card?from=${Date.UTC(2026, 10, 29, 2, 26, 0)}&to=now`, text: "Dashboard (the incident's time range)" },
    ]);
    expect(validateEvent(ev)).toEqual([]);
  });

  it('truncates the summary to 1024 characters and the dedup key to 255', () => {
    const ev = buildPagerDutyEvent({ ...base, summary: 'x'.repeat(5000), dedupKey: 'k'.repeat(400) }, PD_KEY, opts)!;
    expect(ev.payload!.summary).toHaveLength(1024);
    expect(ev.payload!.summary.endsWith('…')).toBe(true);
    expect(ev.dedup_key).toHaveLength(255);
    expect(validateEvent(ev)).toEqual([]);
  });

  it('sends acknowledge and resolve with the same dedup key and no payload', () => {
    for (const action of ['acknowledge', 'resolve'] as const) {
      const ev = buildPagerDutyEvent({ ...base, action }, PD_KEY, opts)!;
      expect(ev).toEqual({ routing_key: PD_KEY, event_action: action, dedup_key: base.dedupKey });
      expect(validateEvent(ev)).toEqual([]);
    }
  });

  it('has no event for reminders and warnings', () => {
    expect(buildPagerDutyEvent({ ...base, action: 'reminder' }, PD_KEY, opts)).toBeUndefined();
    expect(buildPagerDutyEvent({ ...base, action: 'warning' }, PD_KEY, opts)).toBeUndefined();
  });
});

describe('pagerDutyConfigSchema', () => {
  it('maps us / eu to the Events API endpoints and accepts any URL', () => {
    const eu = PagerDutyNotifier.fromConfig('pd', pagerDutyConfigSchema.parse({ type: 'pagerduty', routingKey: PD_KEY, eventsUrl: 'eu' }));
    expect(eu.name).toBe('pd');
    expect(PAGERDUTY_EVENTS_URL.eu).toBe('https://events.eu.pagerduty.com/v2/enqueue');
    expect(pagerDutyConfigSchema.parse({ type: 'pagerduty', routingKey: PD_KEY }).eventsUrl).toBe('us');
    expect(pagerDutyConfigSchema.safeParse({ type: 'pagerduty', routingKey: PD_KEY, eventsUrl: 'http://127.0.0.1:9/v2/enqueue' }).success).toBe(true);
  });
  it('rejects a routing key that is not 32 characters', () => {
    const r = pagerDutyConfigSchema.safeParse({ type: 'pagerduty', routingKey: 'short' });
    expect(r.success).toBe(false);
  });
});

describe('PagerDutyNotifier against the contract server', () => {
  let pd: PagerDutyContract;
  beforeAll(async () => {
    pd = await startPagerDutyContract({ validKeys: [PD_KEY] });
  });
  afterAll(() => pd.close());
  const notifier = (key = PD_KEY, timeoutMs = 2000) =>
    new PagerDutyNotifier({ name: 'pd', routingKey: new Secret(key), eventsUrl: pd.url, timeoutMs, ...opts });

  it('delivers trigger, acknowledge and resolve as one incident', async () => {
    const n = notifier();
    const dk = 'quietwatch/inc-contract/card-auth';
    await expect(n.send({ ...base, dedupKey: dk })).resolves.toEqual({ dedup_key: dk });
    await n.send({ ...base, dedupKey: dk, action: 'acknowledge' });
    await n.send({ ...base, dedupKey: dk, action: 'resolve' });
    expect(pd.alerts.get(dk)).toMatchObject({ status: 'resolved', opened: 1, actions: ['trigger', 'acknowledge', 'resolve'] });
  });

  it('sends nothing for a reminder', async () => {
    const before = pd.requests.length;
    await expect(notifier().send({ ...base, action: 'reminder' }, { dedup_key: 'x' })).resolves.toEqual({ dedup_key: 'x' });
    expect(pd.requests.length).toBe(before);
  });

  it('treats an invalid routing key (400) as permanent', async () => {
    const err = await notifier('Z'.repeat(32)).send(base).catch((e) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.code).toBe('PAGERDUTY_INVALID_ROUTING_KEY');
  });

  it('treats 401 as permanent', async () => {
    pd.script({ status: 401 });
    const err = await notifier().send(base).catch((e) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.code).toBe('PAGERDUTY_HTTP_401');
  });

  it('treats 429 as retryable and reads Retry-After', async () => {
    pd.script({ status: 429, retryAfter: '7' });
    const err = await notifier().send(base).catch((e) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.code).toBe('PAGERDUTY_HTTP_429');
    expect(err.retryAfterMs).toBe(7000);
  });

  it('treats 500 as retryable', async () => {
    pd.script({ status: 500 });
    const err = await notifier().send(base).catch((e) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.code).toBe('PAGERDUTY_HTTP_500');
  });

  it('gives up on a hanging PagerDuty after its timeout, retryably', async () => {
    pd.script({ hang: true });
    const t0 = Date.now();
    const err = await notifier(PD_KEY, 150).send(base).catch((e) => e);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.code).toBe('PAGERDUTY_TIMEOUT');
  });

  it('treats connection refused as retryable', async () => {
    const n = new PagerDutyNotifier({ name: 'pd', routingKey: new Secret(PD_KEY), eventsUrl: 'http://127.0.0.1:1/v2/enqueue', timeoutMs: 1000, ...opts });
    const err = await n.send(base).catch((e) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.code).toBe('PAGERDUTY_NETWORK');
  });
});
