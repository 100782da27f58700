/** The alerting pipeline's public surface, and one helper to build it from the validated config. */
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { groupPolicyFromConfig, retryPolicyFromConfig, windowsFromConfig, type AlertsConfig } from './config.ts';
import { AlertManager, type AlertManagerOptions } from './manager.ts';
import type { AlertStore } from './outbox.ts';
import { createNotifiers } from './registry.ts';
import type { Notifier } from './types.ts';

export * from './types.ts';
export { AlertManager, AlertInputError } from './manager.ts';
export type { AlertManagerOptions, AlertHealth, StoreHealth, CheckDownInput, CheckRecoveredInput, WarningInput, NewSilence, Timers, PermanentFailure, GroupedIncident } from './manager.ts';
export { alertsConfigSchema, alertRoutesSchema, groupConfigSchema, maintenanceWindowSchema, notifiersConfigSchema, resolveRoute } from './config.ts';
export type { AlertsConfig, AlertRoutes, GroupConfig } from './config.ts';
export type { GroupPolicy, GroupInfo, Member, MemberStatus } from './grouping.ts';
export { validateDependencies, dependenciesFrom, formatProblem } from './dependencies.ts';
export { notifierRegistry, notifierConfigSchema, createNotifiers, createNotifier } from './registry.ts';
export type { AlertStore, AlertCommit, NotifierOutcome, OutboxRow, OutboxStatus } from './outbox.ts';
export { SqliteAlertStore } from './store-sqlite.ts';
export { registerAlertRoutes, alertOpenApiPaths, alertApiPlugin } from './routes.ts';
export { verifySignature } from './webhook/index.ts';

/** Build the AlertManager from the parsed `alerts:` config section. Call `start()` on it. */
export function createAlertManager(
  config: AlertsConfig,
  deps: {
    store: AlertStore;
    clock: Clock;
    logger: Logger;
    /** Override notifiers (tests); defaults to those built from config. */
    notifiers?: Record<string, Notifier>;
    /** `checks[].dependsOn`, as `dependenciesFrom(config.checks)` gives it. */
    dependencies?: AlertManagerOptions['dependencies'];
  } & Pick<AlertManagerOptions, 'timers' | 'random' | 'onDelivery'>,
): AlertManager {
  return new AlertManager({
    store: deps.store,
    notifiers: deps.notifiers ?? createNotifiers(config.notifiers, { logger: deps.logger }),
    routes: config.routes,
    clock: deps.clock,
    logger: deps.logger,
    escalation: config.escalation,
    reminderEvery: config.reminderEvery,
    retry: retryPolicyFromConfig(config),
    silences: windowsFromConfig(config),
    group: groupPolicyFromConfig(config),
    dependencies: deps.dependencies,
    timers: deps.timers,
    random: deps.random,
    onDelivery: deps.onDelivery,
    pendingPageAlarmMs: config.pendingPageAlarm,
  });
}
