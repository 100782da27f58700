/**
 * Checks whose pages reach nobody. A deadman switch that pages into the void is worse than none:
 * it looks configured. Pure over the config, so start-up, `quietwatch validate` and `/readyz` all
 * say the same thing ("pages for card-auth reach nobody").
 */
import { BurstLog, type Logger } from '../lib/logger.ts';
import { resolveRoute, type AlertRoutes } from './config.ts';

export interface UnroutedCheck {
  check: string;
  /** No notifier gets this check's pages (down, reminders, escalations). */
  pages: boolean;
  /** No notifier gets this check's warnings (quiet, probe refused, budget). */
  warnings: boolean;
  /** One line for a log, `validate` or /readyz. */
  message: string;
}

export interface RoutingConfig {
  checks: ReadonlyArray<{ name: string; labels?: Record<string, string> }>;
  alerts: { routes: AlertRoutes; notifiers: Record<string, unknown>; escalation?: { fallback: string[] } };
}

/**
 * Every check whose pages (or warnings) reach no existing notifier, in config order. A route that
 * names only notifiers missing from `alerts.notifiers` reaches nobody too (the schema rejects that,
 * but a hand-built config might not have been through it). The escalation fallback does not count:
 * it is for pages that a primary notifier failed to deliver, and there is none to fail.
 */
export function unroutedChecks(config: RoutingConfig): UnroutedCheck[] {
  const exists = (n: string) => Object.prototype.hasOwnProperty.call(config.alerts.notifiers, n);
  const out: UnroutedCheck[] = [];
  for (const c of config.checks) {
    const r = resolveRoute(config.alerts.routes, { check: c.name, labels: c.labels ?? {} });
    const pages = !r.page.some(exists);
    const warnings = !r.warning.some(exists);
    if (!pages && !warnings) continue;
    const message = pages
      ? `pages for ${c.name} reach nobody: no notifier is routed its pages${warnings ? ' or warnings' : ''} (alerts.routes); they are only logged`
      : `warnings for ${c.name} reach nobody: no notifier is routed its warnings (alerts.routes); its pages do go out`;
    out.push({ check: c.name, pages, warnings, message });
  }
  return out;
}

/** Logged at start-up one line per check, summarised past the first few (100,000 checks are one line, not 100,000). */
export function logUnrouted(unrouted: readonly UnroutedCheck[], logger: Logger): void {
  const log = new BurstLog(logger);
  for (const u of unrouted) log.line('warn', 'unrouted', u.check, { pages: u.pages, warnings: u.warnings }, u.message);
}

/** The /readyz `routing` lines: the first 20 messages and a count (100,000 unrouted checks made it 100,000 lines long). */
export function routingDetail(unrouted: readonly UnroutedCheck[], shown = 20): string[] {
  const more = unrouted.length - shown;
  return [...unrouted.slice(0, shown).map((u) => u.message), ...(more > 0 ? [`and ${more} more checks whose pages reach nobody`] : [])];
}
