/**
 * Config schemas for probes, validated at the edge (zod). The lead embeds:
 *   probes.drivers.<name>  -> probeDriverConfigSchema (discriminated on `type`)
 *   probes.budget          -> globalBudgetSchema
 *   checks[i].probe        -> checkProbeSchema
 * Durations are strings like '90s' (src/lib/duration.ts) and come out as milliseconds.
 * Secret values (headers, API keys) come out as `Secret`, whether the loader passed a string or a Secret.
 */
import { z } from 'zod';
import { durationSchema, secretSchema } from '../lib/schema.ts';
import { validate as validateCron } from 'node-cron';
import { parseDuration } from '../lib/duration.ts';
import { Secret, isSecret } from '../lib/secret.ts';
import { CHARGE_PLACEHOLDERS, REVERSE_PLACEHOLDERS, placeholdersIn, renderString } from './template.ts';
import type { ProbeDriverKind } from './types.ts';

export { durationSchema, secretSchema };

const statusList = z.array(z.number().int().min(100).max(599)).min(1);

function checkPlaceholders(allowed: readonly string[], where: string) {
  return (value: unknown, ctx: z.RefinementCtx) => {
    for (const name of placeholdersIn(value)) {
      if (!allowed.includes(name)) {
        ctx.addIssue({ code: 'custom', message: `unknown placeholder {{${name}}} in ${where} (allowed: ${allowed.join(', ')})` });
      }
    }
  };
}

function urlTemplate(allowed: readonly string[]) {
  return z.string().superRefine((url, ctx) => {
    checkPlaceholders(allowed, 'url')(url, ctx);
    try {
      const sample = Object.fromEntries(allowed.map((k) => [k, 'x']));
      const u = new URL(renderString(url, sample));
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
    } catch {
      ctx.addIssue({ code: 'custom', message: `not an http(s) URL: ${url}` });
    }
  });
}

const httpMethod = z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

/** The optional reversal (void / refund) call of the http driver; `{{reference}}` is available. */
export const httpReverseSchema = z.object({
  method: httpMethod.default('POST'),
  url: urlTemplate(REVERSE_PLACEHOLDERS),
  headers: z.record(z.string(), secretSchema).default({}),
  body: z.unknown().optional().superRefine(checkPlaceholders(REVERSE_PLACEHOLDERS, 'reverse.body')),
  timeout: durationSchema.prefault('10s'),
  successStatus: statusList.default([200, 201, 202, 204]),
});

export const httpDriverSchema = z.object({
  type: z.literal('http'),
  method: httpMethod.default('POST'),
  url: urlTemplate(CHARGE_PLACEHOLDERS),
  /** Values may hold credentials; they are Secrets and never printed. */
  headers: z.record(z.string(), secretSchema).default({}),
  /** JSON body template with {{probeId}} {{idempotencyKey}} {{amount}} {{currency}} {{check}}. */
  body: z.unknown().optional().superRefine(checkPlaceholders(CHARGE_PLACEHOLDERS, 'body')),
  timeout: durationSchema.prefault('10s'),
  successStatus: statusList.default([200, 201]),
  /** Statuses that mean the acquirer declined the probe card (-> refused). */
  declineStatus: z.array(z.number().int().min(100).max(599)).default([402]),
  /** A decline signalled inside a success response: the value at `path` is one of `values`. */
  decline: z
    .object({ path: z.string().min(1), values: z.array(z.union([z.string(), z.number(), z.boolean()])).min(1) })
    .optional(),
  /** Where the decline code / message are found in a decline response. */
  declineCodePath: z.string().default('error.code'),
  declineMessagePath: z.string().default('error.message'),
  /** Where the acquirer's reference is found in a success response, e.g. `data.id`. */
  referencePath: z.string().optional(),
  /** Header carrying the idempotency key. */
  idempotencyHeader: z.string().min(1).default('Idempotency-Key'),
  reverse: httpReverseSchema.optional(),
});

export const stripeDriverSchema = z
  .object({
    type: z.literal('stripe'),
    /** Test-mode secret key (sk_test_… / rk_test_…). */
    apiKey: secretSchema,
    /** A test PaymentMethod, e.g. pm_card_visa. */
    paymentMethod: z.string().min(1).default('pm_card_visa'),
    /** Point the SDK elsewhere (a local contract server in tests). Defaults are Stripe's. */
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    protocol: z.enum(['http', 'https']).optional(),
    timeout: durationSchema.prefault('20s'),
    description: z.string().default('quietwatch synthetic probe'),
    /** Live keys charge real money; refused unless explicitly allowed. */
    allowLiveKey: z.boolean().default(false),
  })
  .superRefine((c, ctx) => {
    if (!c.allowLiveKey && !/^(sk|rk)_test_/.test(c.apiKey.reveal())) {
      ctx.addIssue({ code: 'custom', path: ['apiKey'], message: 'must be a test-mode key (sk_test_… or rk_test_…); set allowLiveKey to use a live key' });
    }
  });

export const sandboxDriverSchema = z.object({
  type: z.literal('sandbox'),
  /** Stream the synthetic transaction is emitted on; defaults to the check's stream. */
  stream: z.string().min(1).optional(),
  /** Card token carried on the synthetic transaction (for card-token correlation). */
  cardToken: z.string().min(1).default('tok_sandbox_probe'),
});

export const probeDriverConfigSchema = z.discriminatedUnion('type', [httpDriverSchema, stripeDriverSchema, sandboxDriverSchema]);

export type HttpDriverConfig = z.output<typeof httpDriverSchema>;
export type StripeDriverConfig = z.output<typeof stripeDriverSchema>;
export type SandboxDriverConfig = z.output<typeof sandboxDriverSchema>;
export type ProbeDriverConfig = z.output<typeof probeDriverConfigSchema>;
export type ProbeDriverConfigInput = z.input<typeof probeDriverConfigSchema>;

// Compile-time: the schema's kinds are exactly the driver kinds.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _kindsMatch: Same<ProbeDriverConfig['type'], ProbeDriverKind> = true;
void _kindsMatch;

const count = z.number().int().min(0);

export const budgetSchema = z.object({
  /** Charges in any rolling hour. */
  perHour: count,
  /** Charges in any rolling 24 hours. */
  perDay: count,
});

/** Global budget across every check; nothing can exceed it. */
export const globalBudgetSchema = z.object({ perHour: count.default(30), perDay: count.default(200) }).prefault({});

/** How the check recognises its probe's transaction: an attribute carrying the probe id, or card token + the probe amount. */
export const correlateSchema = z.union([
  z.object({ attribute: z.string().min(1).default('probe_id') }).strict(),
  z
    .object({
      cardToken: z.string().min(1),
      cardTokenAttribute: z.string().min(1).default('card_token'),
      amountAttribute: z.string().min(1).default('amount'),
    })
    .strict(),
]);

export const cronScheduleSchema = z
  .object({ cron: z.string().min(1), timezone: z.string().min(1).default('UTC') })
  .superRefine((s, ctx) => {
    if (!validateCron(s.cron)) ctx.addIssue({ code: 'custom', path: ['cron'], message: `not a cron expression: ${s.cron}` });
    if (s.timezone) {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: s.timezone });
      } catch {
        ctx.addIssue({ code: 'custom', path: ['timezone'], message: `unknown time zone: ${s.timezone}` });
      }
    }
  });

/** Per-check probe options (`checks[i].probe`). */
export const checkProbeSchema = z.object({
  /** Name of a driver under probes.drivers. */
  driver: z.string().min(1),
  /** Minor units (cents); capped so a typo cannot charge real money. */
  amount: z.number().int().positive().max(10_000).default(100),
  currency: z
    .string()
    .regex(/^[A-Za-z]{3}$/, 'must be a 3-letter ISO 4217 code')
    .default('gbp')
    .transform((c) => c.toLowerCase()),
  /** How long to wait for the synthetic transaction to come out of the pipeline. */
  timeout: durationSchema.prefault('60s'),
  /**
   * Learn the wait from the pipeline's own proofs: `factor` x the slowest of the last `proofs` proven
   * probes, at least `min`, never more than `timeout` (which applies until that many were proven).
   * `true` for the defaults. A late copy of a probe lost at a learned wait lengthens the next wait.
   */
  learnTimeout: z
    .union([
      z.literal(true).transform(() => ({ factor: 3, min: 10_000, proofs: 20 })),
      z.object({
        factor: z.number().min(1.5).max(20).default(3),
        min: durationSchema.prefault('10s'),
        proofs: z.number().int().min(3).max(100).default(20),
      }),
    ])
    .optional(),
  correlate: correlateSchema.prefault({ attribute: 'probe_id' }),
  /** During a quiet spell each proven probe multiplies the next wait by `factor`, up to `max`. */
  backoff: z.object({ factor: z.number().min(1).max(10).default(2), max: durationSchema.prefault('1h') }).prefault({}),
  /** Charges of this check per rolling hour / rolling 24 hours. */
  budget: z.object({ perHour: count.default(6), perDay: count.default(48) }).prefault({}),
  schedule: cronScheduleSchema.optional(),
});

export type CheckProbeOptions = z.output<typeof checkProbeSchema>;
export type CheckProbeInput = z.input<typeof checkProbeSchema>;
export type GlobalBudget = z.output<typeof globalBudgetSchema>;
export type Budget = z.output<typeof budgetSchema>;
export type Correlate = CheckProbeOptions['correlate'];
/** What the ProbeManager reads of a check's probe options. */
export type ProbeFireOptions = Pick<CheckProbeOptions, 'driver' | 'amount' | 'currency' | 'budget'>;

/** Convenience: the whole `probes:` section. */
export const probesConfigSchema = z
  .object({
    drivers: z.record(z.string(), probeDriverConfigSchema).default({}),
    budget: globalBudgetSchema,
  })
  .prefault({});
export type ProbesConfig = z.output<typeof probesConfigSchema>;
