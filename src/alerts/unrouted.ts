/**
 * Checks whose pages reach nobody. A deadman switch that pages into the void is worse than none:
 * it looks configured. Pure over the config, so start-up, `quietwatch validate` and `/readyz` all
 * say the same thing ("pages for card-auth reach nobody").
 */
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
