/**
 * The `alerts:` section of the config, for the lead to embed in the main schema, and the pure
 * helpers that read it (routing, maintenance windows, durations).
 */
import { z } from 'zod';
import { durationSchema } from '../lib/schema.ts';
import { parseDuration } from '../lib/duration.ts';
import { DEFAULT_RETRY, type RetryPolicy } from '../lib/retry.ts';
import { DEFAULT_GROUP_POLICY, type GroupPolicy } from './grouping.ts';
import { notifiersConfigSchema } from './registry.ts';
import { matches, validateWindow } from './silences.ts';
import type { MaintenanceWindow, SilenceMatchers } from './types.ts';

export { notifiersConfigSchema };

export { durationSchema };

export const matchersSchema = z
  .object({
    /** Check name; `*` is a wildcard. */
    check: z.string().min(1).optional(),
    labels: z.record(z.string(), z.string()).optional(),
  })
  .refine((m) => m.check !== undefined || Object.keys(m.labels ?? {}).length > 0, {
    message: 'give a check name or at least one label',
  });

const routeTargetsSchema = z.object({
  warning: z.array(z.string()).optional(),
  page: z.array(z.string()).optional(),
});

export const alertRoutesSchema = z.object({
  default: z.object({ warning: z.array(z.string()).default([]), page: z.array(z.string()).default([]) }),
  /** First match wins; a missing `warning` or `page` falls back to the default. */
  overrides: z
    .array(
      routeTargetsSchema.extend({
        /** Names the route in grouped pages ("card-auth: 37 checks down"); default `overrides[i]`. */
        name: z.string().min(1).optional(),
        match: matchersSchema,
      }),
    )
    .default([]),
});
export type AlertRoutes = z.infer<typeof alertRoutesSchema>;

export const maintenanceWindowSchema = z
  .object({
    name: z.string().min(1),
    cron: z.string().min(1),
    duration: durationSchema,
    timezone: z.string().default('UTC'),
    match: matchersSchema,
  })
  .superRefine((w, ctx) => {
    try {
      validateWindow(w);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['cron'], message: `invalid cron or time zone: ${(err as Error).message}` });
    }
  });

export const retryPolicySchema = z.object({
  minDelay: durationSchema.default(DEFAULT_RETRY.minDelayMs),
  maxDelay: durationSchema.default(DEFAULT_RETRY.maxDelayMs),
  maxAttempts: z.number().int().min(1).default(DEFAULT_RETRY.maxAttempts),
  deadline: durationSchema.default(DEFAULT_RETRY.deadlineMs),
});

/**
 * `alerts.group`: which checks that go down together share one incident (see grouping.ts).
 * `by: route` (default) — one incident per route; `by: [label…]` — per route and those labels' values;
 * `by: none` — one incident per check.
 */
export const groupConfigSchema = z.object({
  by: z.union([z.enum(['route', 'none']), z.array(z.string().min(1)).min(1)]).default('route'),
  window: durationSchema.default(DEFAULT_GROUP_POLICY.windowMs),
  /** The first update (members that joined since the page): no sooner than this after the page… */
  firstUpdateAfter: durationSchema.default(DEFAULT_GROUP_POLICY.firstUpdateAfterMs),
  /** …once no member joined for this long… */
  settle: durationSchema.default(DEFAULT_GROUP_POLICY.settleMs),
  /** …and no later than this after the page. */
  firstUpdateBy: durationSchema.default(DEFAULT_GROUP_POLICY.firstUpdateByMs),
  /** How many updates follow the settle rule before updateEvery applies. */
  quickUpdates: z.number().int().min(0).max(5).default(DEFAULT_GROUP_POLICY.quickUpdates),
  /** The quick updates after the first come at most this long after the previous message. */
  quickUpdateBy: durationSchema.default(DEFAULT_GROUP_POLICY.quickUpdateByMs),
  /** Later updates: at most one per this long (PagerDuty takes about 120 events a minute per routing key). */
  updateEvery: durationSchema.default(DEFAULT_GROUP_POLICY.updateEveryMs),
  /** Members named in a page; the rest are counted. */
  maxListed: z.number().int().min(1).max(500).default(DEFAULT_GROUP_POLICY.maxListed),
});
export type GroupConfig = z.infer<typeof groupConfigSchema>;

export function groupPolicyFromConfig(c: AlertsConfig): GroupPolicy {
  const g = c.group;
  return {
    by: g.by,
    windowMs: g.window,
    firstUpdateAfterMs: g.firstUpdateAfter,
    settleMs: g.settle,
    firstUpdateByMs: g.firstUpdateBy,
    quickUpdates: g.quickUpdates,
    quickUpdateByMs: g.quickUpdateBy,
    updateEveryMs: g.updateEvery,
    maxListed: g.maxListed,
  };
}

/** The whole `alerts:` section. Cross-references (route names -> notifiers) are checked here too. */
export const alertsConfigSchema = z
  .object({
    notifiers: notifiersConfigSchema.default({}),
    routes: alertRoutesSchema.default({ default: { warning: [], page: [] }, overrides: [] }),
    escalation: z.object({ after: durationSchema, fallback: z.array(z.string()).default([]) }).optional(),
    reminderEvery: durationSchema.optional(),
    maintenance: z.array(maintenanceWindowSchema).default([]),
    retry: retryPolicySchema.optional(),
    group: groupConfigSchema.prefault({}),
    /** A page not delivered this long after it was queued makes /readyz say degraded ["alerts"] (pages-late). */
    pendingPageAlarm: durationSchema.default(60_000),
  })
  .superRefine((c, ctx) => {
    const names = new Set(Object.keys(c.notifiers));
    const check = (list: string[] | undefined, path: (string | number)[]) =>
      list?.forEach((n, i) => {
        if (!names.has(n)) ctx.addIssue({ code: 'custom', path: [...path, i], message: `unknown notifier "${n}"` });
      });
    const noPager = (list: string[] | undefined, path: (string | number)[]) =>
      list?.forEach((n, i) => {
        if (c.notifiers[n]?.type === 'pagerduty')
          ctx.addIssue({ code: 'custom', path: [...path, i], message: `warnings never go to PagerDuty ("${n}")` });
      });
    check(c.routes.default.warning, ['routes', 'default', 'warning']);
    check(c.routes.default.page, ['routes', 'default', 'page']);
    noPager(c.routes.default.warning, ['routes', 'default', 'warning']);
    c.routes.overrides.forEach((o, i) => {
      check(o.warning, ['routes', 'overrides', i, 'warning']);
      check(o.page, ['routes', 'overrides', i, 'page']);
      noPager(o.warning, ['routes', 'overrides', i, 'warning']);
    });
    check(c.escalation?.fallback, ['escalation', 'fallback']);
  });
export type AlertsConfig = z.infer<typeof alertsConfigSchema>;

/** The notifiers for a check: the first matching override, field by field over the default. Pure. */
export function resolveRoute(
  routes: AlertRoutes,
  target: { check: string; labels: Record<string, string> },
): { warning: string[]; page: string[] } {
  const o = routes.overrides.find((r) => matches(r.match as SilenceMatchers, target));
  return {
    warning: o?.warning ?? routes.default.warning,
    page: o?.page ?? routes.default.page,
  };
}

export function windowsFromConfig(c: AlertsConfig): MaintenanceWindow[] {
  return c.maintenance.map((w) => ({
    name: w.name,
    cron: w.cron,
    durationMs: w.duration,
    timezone: w.timezone,
    matchers: w.match,
  }));
}

export function retryPolicyFromConfig(c: AlertsConfig): RetryPolicy {
  if (!c.retry) return DEFAULT_RETRY;
  return {
    minDelayMs: c.retry.minDelay,
    maxDelayMs: c.retry.maxDelay,
    maxAttempts: c.retry.maxAttempts,
    deadlineMs: c.retry.deadline,
  };
}
