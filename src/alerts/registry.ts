/**
 * The typed notifier registry: one factory per kind. `satisfies` makes adding a kind to NOTIFIER_KINDS
 * without wiring its schema and factory here a compile error.
 */
import { z } from 'zod';
import type { Logger } from '../lib/logger.ts';
import type { Notifier, NotifierKind } from './types.ts';
import { PagerDutyNotifier, pagerDutyConfigSchema } from './pagerduty/index.ts';
import { SlackNotifier, slackConfigSchema } from './slack/index.ts';
import { SlackWebhookNotifier, slackWebhookConfigSchema } from './slack-webhook/index.ts';
import { WebhookNotifier, webhookConfigSchema } from './webhook/index.ts';
import { SnsNotifier, snsConfigSchema } from './sns/index.ts';

export { pagerDutyConfigSchema, slackConfigSchema, slackWebhookConfigSchema, webhookConfigSchema, snsConfigSchema };

export interface NotifierFactoryDeps {
  logger?: Logger;
}

interface Entry<S extends z.ZodType> {
  schema: S;
  create: (name: string, config: z.infer<S>, deps: NotifierFactoryDeps) => Notifier;
}

function entry<S extends z.ZodType>(schema: S, create: Entry<S>['create']): Entry<S> {
  return { schema, create };
}

export const notifierRegistry = {
  pagerduty: entry(pagerDutyConfigSchema, (name, c) => PagerDutyNotifier.fromConfig(name, c)),
  slack: entry(slackConfigSchema, (name, c, deps) => SlackNotifier.fromConfig(name, c, deps.logger)),
  'slack-webhook': entry(slackWebhookConfigSchema, (name, c) => SlackWebhookNotifier.fromConfig(name, c)),
  webhook: entry(webhookConfigSchema, (name, c) => WebhookNotifier.fromConfig(name, c)),
  sns: entry(snsConfigSchema, (name, c) => SnsNotifier.fromConfig(name, c)),
} satisfies { [K in NotifierKind]: Entry<z.ZodType<{ type: K }>> };

/** One notifier's config: a discriminated union on `type`. */
export const notifierConfigSchema = z.discriminatedUnion('type', [
  notifierRegistry.pagerduty.schema,
  notifierRegistry.slack.schema,
  notifierRegistry['slack-webhook'].schema,
  notifierRegistry.webhook.schema,
  notifierRegistry.sns.schema,
]);
export type NotifierConfig = z.infer<typeof notifierConfigSchema>;

/** `alerts.notifiers` in the main config: name -> notifier config. */
export const notifiersConfigSchema = z.record(
  z.string().regex(/^[a-z0-9][a-z0-9_-]*$/i, 'notifier names are letters, digits, - and _'),
  notifierConfigSchema,
);
export type NotifiersConfig = z.infer<typeof notifiersConfigSchema>;

// Every kind must appear in the union too.
type _AllKindsInUnion = NotifierKind extends NotifierConfig['type'] ? true : never;
const _allKindsInUnion: _AllKindsInUnion = true;
void _allKindsInUnion;

/** Build every configured notifier. Configs are already validated by `notifiersConfigSchema`. */
export function createNotifiers(config: NotifiersConfig, deps: NotifierFactoryDeps = {}): Record<string, Notifier> {
  const out: Record<string, Notifier> = {};
  for (const [name, c] of Object.entries(config)) out[name] = createNotifier(name, c, deps);
  return out;
}

export function createNotifier(name: string, c: NotifierConfig, deps: NotifierFactoryDeps = {}): Notifier {
  const e = notifierRegistry[c.type] as Entry<z.ZodType<NotifierConfig>>;
  return e.create(name, c, deps);
}
