import { describe, expect, it } from 'vitest';
import { alertsConfigSchema, resolveRoute, windowsFromConfig } from '../../src/alerts/config.ts';
import { createNotifiers, notifierRegistry, notifiersConfigSchema } from '../../src/alerts/registry.ts';
import { NOTIFIER_KINDS } from '../../src/alerts/types.ts';
import { Secret } from '../../src/lib/secret.ts';
import { inspect } from 'node:util';
import { z } from 'zod';

const PD_KEY = 'R0UT1NGKEY0123456789ABCDEFGHIJKL';
const notifiers = {
  pagerduty: { type: 'pagerduty', routingKey: PD_KEY, eventsUrl: 'eu' },
  slack: { type: 'slack', token: 'xoxb-1', channel: 'C0ALERTS' },
  team_hook: { type: 'slack-webhook', url: 'https://hooks.slack.com/services/T/B/X' },
  tools: { type: 'webhook', url: 'https://tools.example/hook', secret: 'a-long-webhook-secret' },
  sms: { type: 'sns', topicArn: 'arn:aws:sns:eu-west-1:123456789012:oncall', region: 'eu-west-1' },
};

describe('notifier registry', () => {
  it('has a factory for every kind', () => {
    expect(Object.keys(notifierRegistry).sort()).toEqual([...NOTIFIER_KINDS].sort());
  });

  it('builds every configured notifier with its name and kind', () => {
    const built = createNotifiers(notifiersConfigSchema.parse(notifiers));
    expect(Object.entries(built).map(([k, n]) => [k, n.name, n.kind])).toEqual([
      ['pagerduty', 'pagerduty', 'pagerduty'],
      ['slack', 'slack', 'slack'],
      ['team_hook', 'team_hook', 'slack-webhook'],
      ['tools', 'tools', 'webhook'],
      ['sms', 'sms', 'sns'],
    ]);
    // secrets live in Secret fields and never print
    const printed = inspect(built, { depth: 5 }) + JSON.stringify(built);
    expect(printed).not.toContain(PD_KEY);
    expect(printed).not.toContain('a-long-webhook-secret');
    expect(String(new Secret('x'))).toBe('<secret>');
  });

  it('rejects an unknown type and reports every problem with its path', () => {
    const r = notifiersConfigSchema.safeParse({ a: { type: 'pager' }, b: { type: 'pagerduty', routingKey: 'short' } });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toContain('a.type');
    expect(paths).toContain('b.routingKey');
  });
});

describe('alertsConfigSchema', () => {
  it('parses durations, routes, escalation and maintenance windows', () => {
    const c = alertsConfigSchema.parse({
      notifiers,
      routes: {
        default: { warning: ['slack'], page: ['pagerduty', 'slack'] },
        overrides: [{ match: { labels: { env: 'staging' } }, page: ['slack'] }],
      },
      escalation: { after: '5m', fallback: ['sms'] },
      reminderEvery: '30m',
      maintenance: [{ name: 'batch', cron: '30 1 * * *', duration: '2h', timezone: 'Europe/London', match: { check: 'settlement-*' } }],
    });
    expect(c.escalation).toEqual({ after: 300_000, fallback: ['sms'] });
    expect(c.reminderEvery).toBe(1_800_000);
    expect(windowsFromConfig(c)).toEqual([
      { name: 'batch', cron: '30 1 * * *', durationMs: 7_200_000, timezone: 'Europe/London', matchers: { check: 'settlement-*' } },
    ]);
    expect(resolveRoute(c.routes, { check: 'x', labels: { env: 'staging' } })).toEqual({ warning: ['slack'], page: ['slack'] });
    expect(resolveRoute(c.routes, { check: 'x', labels: {} })).toEqual({ warning: ['slack'], page: ['pagerduty', 'slack'] });
  });

  it('reports unknown notifiers, warnings to PagerDuty, bad durations and bad crons, all at once', () => {
    const r = alertsConfigSchema.safeParse({
      notifiers,
      routes: { default: { warning: ['pagerduty'], page: ['nope'] } },
      escalation: { after: 'soon', fallback: ['sms'] },
      maintenance: [{ name: 'w', cron: 'not a cron', duration: '1h', timezone: 'Europe/London', match: { check: 'c' } }],
    });
    expect(r.success).toBe(false);
    const msgs = r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(msgs.some((m) => m.startsWith('escalation.after: must be a duration'))).toBe(true);
    expect(msgs.some((m) => m.startsWith('maintenance.0.cron: invalid cron'))).toBe(true);
    // cross-reference checks run once the shapes are valid
    const r2 = alertsConfigSchema.safeParse({ notifiers, routes: { default: { warning: ['pagerduty'], page: ['nope'] } } });
    const msgs2 = r2.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(msgs2).toEqual(
      expect.arrayContaining(['routes.default.page.0: unknown notifier "nope"', 'routes.default.warning.0: warnings never go to PagerDuty ("pagerduty")']),
    );
  });
});

describe('JSON Schema', () => {
  it('can be published the way the main config is (io: input)', () => {
    const j = z.toJSONSchema(alertsConfigSchema, { io: 'input', unrepresentable: 'any' }) as { properties: Record<string, unknown> };
    expect(Object.keys(j.properties).sort()).toEqual(['escalation', 'group', 'maintenance', 'notifiers', 'pendingPageAlarm', 'reminderEvery', 'retry', 'routes']);
    expect(JSON.stringify(j)).toContain('"const":"pagerduty"');
  });
});
