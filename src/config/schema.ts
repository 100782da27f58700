/**
 * The config schema (zod). Validated at the edge, all problems at once, each with its path.
 * Durations are strings like `90s`, `2m`, `1h30m`; secrets arrive through `${ENV}` substitution.
 */
import { z } from 'zod';
import { parseDuration } from '../lib/duration.ts';

export const duration = (what = 'a duration') =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `must be ${what} like "90s", "2m", "1h30m" (got ${JSON.stringify(v)})` });
      return z.NEVER;
    }
    return ms;
  });

const name = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, 'must be letters, digits, and _ . : - (starting with a letter or digit)');

export const SCOPES = ['ingest', 'read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

const tokenSchema = z.object({
  name: z.string().min(1).describe('Who holds this token (appears in logs, never the token itself)'),
  token: z.string().min(16, 'must be at least 16 characters'),
  scopes: z.array(z.enum(SCOPES)).min(1),
});

const matchValue = z.union([z.string(), z.number(), z.boolean(), z.array(z.union([z.string(), z.number(), z.boolean()])).min(1)]);

export const checkProbeSchema = z.object({
  driver: z.string().min(1).describe('Name of a driver under probes.drivers'),
  amount: z.number().int().positive().max(10_000).default(100).describe('Charge amount in minor units (cents)'),
  currency: z.string().regex(/^[a-z]{3}$/i).default('gbp'),
  timeout: duration().default(60_000).describe('How long to wait for the synthetic transaction to come out of the pipeline'),
  correlate: z
    .union([
      z.object({ attribute: z.string().min(1).default('probe_id') }),
      z.object({ cardToken: z.string().min(1), amountAttribute: z.string().default('amount'), cardTokenAttribute: z.string().default('card_token') }),
    ])
    .default({ attribute: 'probe_id' }),
  backoff: z.object({ factor: z.number().min(1).max(10).default(2), max: duration().default(3_600_000) }).default({ factor: 2, max: 3_600_000 }),
  budget: z
    .object({ perHour: z.number().int().min(0).default(6), perDay: z.number().int().min(0).default(48) })
    .default({ perHour: 6, perDay: 48 }),
  schedule: z.object({ cron: z.string().min(1), timezone: z.string().default('UTC') }).optional(),
});

const autoOr = z.union([z.string(), z.number()]).transform((v, ctx): number | 'auto' => {
  if (v === 'auto') return 'auto';
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `must be "auto" or a duration like "90s", "2m", "1h30m" (got ${JSON.stringify(v)})` });
    return z.NEVER;
  }
  return ms;
});

export const learnSchema = z.object({
  min: duration().default(5_000),
  max: duration().default(3_600_000),
  falseProbes: z.string().default('1/week'),
  falsePages: z.string().default('1/year'),
  timezone: z.string().default('UTC'),
  holidays: z.array(z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD')).default([]),
});

export const checkSchema = z
  .object({
    name,
    stream: z.string().min(1).optional().describe('Stream name; defaults to the check name'),
    match: z.record(z.string(), matchValue).default({}).describe('Attribute values the events must carry'),
    quietAfter: autoOr.describe('Silence after which the stream is suspicious (a probe fires)'),
    pageAfter: autoOr.describe('Silence after which on-call is paged'),
    learn: learnSchema.optional(),
    labels: z.record(z.string(), z.string()).default({}),
    runbook: z.string().url().optional(),
    dashboard: z.string().url().optional(),
    probe: checkProbeSchema.optional(),
    flap: z
      .object({ maxFlips: z.number().int().min(1).default(3), window: duration().default(3_600_000), stableFor: duration().default(600_000) })
      .optional(),
    source: z.record(z.string(), z.unknown()).optional().describe('Pull the events from elsewhere (InfluxDB) instead of pushes'),
    routes: z.object({ warning: z.array(z.string()).optional(), page: z.array(z.string()).optional() }).optional(),
  })
  .superRefine((c, ctx) => {
    const q = c.quietAfter;
    const p = c.pageAfter;
    if (typeof q === 'number' && typeof p === 'number' && p <= q) {
      ctx.addIssue({ code: 'custom', path: ['pageAfter'], message: 'must be longer than quietAfter' });
    }
    if ((q === 'auto' || p === 'auto') && !c.learn) {
      ctx.addIssue({ code: 'custom', path: ['learn'], message: 'is required when quietAfter or pageAfter is "auto" (give at least min and max)' });
    }
    if (typeof q === 'number' && q <= 0) ctx.addIssue({ code: 'custom', path: ['quietAfter'], message: 'must be positive' });
  });

export const configSchema = z
  .object({
    server: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8080),
        bodyLimit: z.number().int().positive().default(5 * 1024 * 1024).describe('Largest request body accepted, in bytes (413 beyond)'),
        publicUrl: z.string().url().optional().describe('Where people reach this server (links in pages)'),
      })
      .default({ host: '127.0.0.1', port: 8080, bodyLimit: 5 * 1024 * 1024 }),
    store: z.object({ path: z.string().min(1).default('data/quietwatch.sqlite') }).default({ path: 'data/quietwatch.sqlite' }),
    auth: z
      .object({ tokens: z.array(tokenSchema).default([]) })
      .default({ tokens: [] }),
    board: z
      .object({ public: z.boolean().default(false).describe('Open the status board (GET /) read-only without a token') })
      .default({ public: false }),
    checks: z.array(checkSchema).default([]),
    probes: z
      .object({
        drivers: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
        budget: z
          .object({ perHour: z.number().int().min(0).default(30), perDay: z.number().int().min(0).default(200) })
          .default({ perHour: 30, perDay: 200 }),
      })
      .default({ drivers: {}, budget: { perHour: 30, perDay: 200 } }),
    alerts: z.record(z.string(), z.unknown()).optional(),
    metrics: z.record(z.string(), z.unknown()).optional(),
    sandbox: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((c, ctx) => {
    const seen = new Map<string, number>();
    c.checks.forEach((ch, i) => {
      if (seen.has(ch.name)) ctx.addIssue({ code: 'custom', path: ['checks', i, 'name'], message: `duplicates checks[${seen.get(ch.name)}].name "${ch.name}"` });
      seen.set(ch.name, i);
      if (ch.probe && !(ch.probe.driver in c.probes.drivers)) {
        ctx.addIssue({ code: 'custom', path: ['checks', i, 'probe', 'driver'], message: `names no driver under probes.drivers (have: ${Object.keys(c.probes.drivers).join(', ') || 'none'})` });
      }
    });
  });

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type CheckConfig = Config['checks'][number];
