/**
 * The config schema (zod). Validated at the edge, all problems at once, each with its path.
 * Durations are strings like `90s`, `2m`, `1h30m`; secrets arrive through `${ENV}` substitution.
 */
import { validateDependencies } from '../alerts/dependencies.ts';
import { z } from 'zod';
import { parseDuration } from '../lib/duration.ts';
import { durationSchema, secretSchema } from '../lib/schema.ts';
import { checkProbeSchema, globalBudgetSchema, probeDriverConfigSchema } from '../probes/config.ts';
import { metricsConfigSchema } from '../metrics/index.ts';
import { alertsConfigSchema } from '../alerts/config.ts';
import { learnConfigSchema } from '../learn/config.ts';
import { influxSourceSchema } from '../sources/influx.ts';
import { parseSchedule } from '../checks/schedule.ts';
import { watchdogConfigSchema } from '../watchdog/config.ts';

export { checkProbeSchema };

/** Durations in config: one shared type (src/lib/schema.ts). */
export const duration = () => durationSchema;


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

const autoOr = z.union([z.string(), z.number()]).transform((v, ctx): number | 'auto' => {
  if (v === 'auto') return 'auto';
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `must be "auto" or a duration like "90s", "2m", "1h30m" (got ${JSON.stringify(v)})` });
    return z.NEVER;
  }
  return ms;
});

export { learnConfigSchema as learnSchema };

export const sandboxSchema = z.object({
  enabled: z.boolean().default(true),
  mode: z.enum(['healthy', 'quiet', 'broken', 'acquirer-down']).default('healthy'),
  acquirerDelay: duration().default(2_000).describe('How long the test acquirer takes to put a probe transaction onto the stream'),
  timezone: z.string().default('UTC').describe('Local time that shapes the day/night traffic'),
  streams: z
    .array(
      z.object({
        stream: z.string().min(1),
        ratePerSec: z.number().positive().max(10_000).describe('Arrivals per second at the daily peak'),
        nightFactor: z.number().min(0).max(1).default(0.1),
        attributes: z.record(z.string(), z.array(z.string()).min(1)).default({}),
      }),
    )
    .default([]),
});

export const scheduleSchema = z
  .strictObject({
    cron: z.string().min(1).describe('Five-field cron expression, e.g. "30 5 * * 1-5" (05:30 on weekdays)'),
    timezone: z.string().default('UTC').describe('IANA time zone the slots are in, e.g. Europe/London'),
    grace: duration().describe('How late after a slot the event may come before the check is down'),
  })
  .superRefine((sc, ctx) => {
    if (!isTimeZone(sc.timezone)) ctx.addIssue({ code: 'custom', path: ['timezone'], message: `is not an IANA time zone (e.g. Europe/London): ${sc.timezone}` });
    else {
      try {
        if (!parseSchedule(sc).nextRun()) ctx.addIssue({ code: 'custom', path: ['cron'], message: 'has no future slot' });
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['cron'], message: `is not a cron expression: ${(err as Error).message}` });
      }
    }
    if (!(sc.grace > 0)) ctx.addIssue({ code: 'custom', path: ['grace'], message: 'must be positive' });
  });

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const checkSchema = z
  .object({
    name,
    stream: z.string().min(1).optional().describe('Stream name; defaults to the check name'),
    match: z.record(z.string(), matchValue).default({}).describe('Attribute values the events must carry'),
    quietAfter: autoOr.optional().describe('Silence after which the stream is suspicious (a probe fires); required unless schedule'),
    pageAfter: autoOr.optional().describe('Silence after which on-call is paged; required unless schedule'),
    schedule: scheduleSchema.optional().describe('An event expected once per cron slot (a daily file, a batch): late at the slot, down after grace'),
    maxRuntime: duration().optional().describe('A run started with /ping?state=start that has not succeeded within this is down'),
    learn: learnConfigSchema.optional().describe('Learned limits: bounds, tolerated false alarms, time zone, holidays, rate-drop'),
    labels: z.record(z.string(), z.string()).default({}),
    runbook: z.string().url().optional(),
    dashboard: z.string().url().optional(),
    probe: checkProbeSchema.optional(),
    flap: z
      .object({ maxFlips: z.number().int().min(1).default(3), window: duration().default(3_600_000), stableFor: duration().default(600_000) })
      .optional(),
    source: influxSourceSchema.optional().describe('Watch an InfluxDB measurement instead of pushed events'),
    dependsOn: z
      .array(z.string().min(1))
      .optional()
      .describe("Upstream checks: while one is down, this check's page is held in the upstream's incident (docs/alerts.md)"),
  })
  .superRefine((c, ctx) => {
    const q = c.quietAfter;
    const p = c.pageAfter;
    if (c.schedule) {
      for (const k of ['quietAfter', 'pageAfter', 'learn', 'source'] as const) {
        if (c[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'cannot be combined with schedule (a schedule check is late at its slot and down after schedule.grace)' });
      }
    } else {
      if (q === undefined) ctx.addIssue({ code: 'custom', path: ['quietAfter'], message: 'is required (or give a schedule)' });
      if (p === undefined) ctx.addIssue({ code: 'custom', path: ['pageAfter'], message: 'is required (or give a schedule)' });
    }
    if (typeof q === 'number' && typeof p === 'number' && p <= q) {
      ctx.addIssue({ code: 'custom', path: ['pageAfter'], message: 'must be longer than quietAfter' });
    }
    if ((q === 'auto' || p === 'auto') && !c.learn) {
      ctx.addIssue({ code: 'custom', path: ['learn'], message: 'is required when quietAfter or pageAfter is "auto" (give at least min and max)' });
    }
    if (typeof q === 'number' && q <= 0) ctx.addIssue({ code: 'custom', path: ['quietAfter'], message: 'must be positive' });
    const poll = (c.source as { pollInterval?: number } | undefined)?.pollInterval;
    if (poll !== undefined && typeof q === 'number' && q <= poll) {
      ctx.addIssue({ code: 'custom', path: ['quietAfter'], message: `must be longer than source.pollInterval (${poll} ms), or the check flaps between polls` });
    }
  });

export const configSchema = z
  .object({
    server: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8080),
        bodyLimit: z.number().int().positive().default(5 * 1024 * 1024).describe('Largest request body accepted, in bytes (413 beyond)'),
        publicUrl: z.string().url().optional().describe('Where people reach this server (links in pages)'),
        requestTimeout: duration().default(30_000).describe('A request, headers and body, must arrive within this; slow uploads are closed (408)'),
      })
      .default({ host: '127.0.0.1', port: 8080, bodyLimit: 5 * 1024 * 1024, requestTimeout: 30_000 }),
    ingest: z
      .object({
        maxClockSkew: duration()
          .default(86_400_000)
          .describe('Event times further than this from arrival, either way, are refused (400): one bound for string and numeric times'),
      })
      .default({ maxClockSkew: 86_400_000 }),
    store: z
      .object({
        path: z.string().min(1).default('data/quietwatch.sqlite').describe('The SQLite file (WAL), used when no url is set'),
        url: secretSchema
          .refine((s) => /^postgres(ql)?:\/\//i.test(s.reveal()), { message: 'must be a postgres:// or postgresql:// URL' })
          .optional()
          .describe('postgres://user:pass@host:port/db: PostgreSQL instead of SQLite, shared by replicas (also QUIETWATCH_STORE_URL)'),
        poolSize: z.number().int().min(1).max(100).default(10).describe('PostgreSQL connections per replica'),
        statementTimeout: duration().default(5_000).describe('PostgreSQL statement timeout'),
        leaseTtl: duration().default(6_000).describe('Leader lease length (PostgreSQL): a follower takes over this long after the leader stops renewing (6 s: takeover within the 10 s goal, ~8 s worst case)'),
        lostAfter: duration().default(15_000).describe('The store failing (unreachable, or writes failing: a full disk) this long pages "quietwatch has lost its store" through the fallback route'),
      })
      .prefault({}),
    auth: z
      .object({ tokens: z.array(tokenSchema).default([]) })
      .default({ tokens: [] }),
    board: z
      .object({ public: z.boolean().default(false).describe('Open the status board (GET /) read-only without a token') })
      .default({ public: false }),
    checks: z.array(checkSchema).default([]),
    probes: z
      .object({
        drivers: z.record(z.string(), probeDriverConfigSchema).default({}).describe('Named probe drivers (http, stripe, sandbox) that checks refer to'),
        budget: globalBudgetSchema.describe('Global charge budget across every check: nothing can exceed it'),
      })
      .prefault({}),
    alerts: alertsConfigSchema.prefault({}),
    metrics: metricsConfigSchema,
    sandbox: sandboxSchema.optional(),
    watchdog: watchdogConfigSchema.optional().describe("quietwatch's own heartbeat to an external dead man's switch (docs/watchdog.md)"),
  })
  .superRefine((c, ctx) => {
    // checks[].dependsOn: unknown checks and cycles, each with its path.
    for (const p of validateDependencies(c.checks)) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
    if (c.metrics.stateInterval < 100) ctx.addIssue({ code: 'custom', path: ['metrics', 'stateInterval'], message: 'must be at least 100ms' });
    const seen = new Map<string, number>();
    c.checks.forEach((ch, i) => {
      if (seen.has(ch.name)) ctx.addIssue({ code: 'custom', path: ['checks', i, 'name'], message: `duplicates checks[${seen.get(ch.name)}].name "${ch.name}"` });
      seen.set(ch.name, i);
      if (ch.probe && !(ch.probe.driver in c.probes.drivers)) {
        ctx.addIssue({ code: 'custom', path: ['checks', i, 'probe', 'driver'], message: `names no driver under probes.drivers (have: ${Object.keys(c.probes.drivers).join(', ') || 'none'})` });
      }
      if (ch.probe && ch.probe.timeout < 1000) {
        ctx.addIssue({ code: 'custom', path: ['checks', i, 'probe', 'timeout'], message: 'must be at least 1s' });
      }
      const driver = ch.probe ? c.probes.drivers[ch.probe.driver] : undefined;
      const driverTimeout = driver && 'timeout' in driver ? (driver.timeout as number) : undefined;
      if (ch.probe && driverTimeout !== undefined && driverTimeout >= ch.probe.timeout) {
        ctx.addIssue({
          code: 'custom',
          path: ['checks', i, 'probe', 'timeout'],
          message: `must be longer than the timeout of driver ${ch.probe.driver} (${driverTimeout} ms): a charge answered after the probe's deadline proves nothing`,
        });
      }
    });
  });

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type CheckConfig = Config['checks'][number];
