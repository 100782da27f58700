/**
 * Config for learned limits, as embedded in a check:
 *
 *   quietAfter: auto          # or a fixed duration
 *   pageAfter: auto
 *   learn:
 *     min: 2s                 # never tighter than this
 *     max: 6h                 # never looser than this; also the limit while there is no history
 *     falseProbes: 1/week     # tolerated false quiet alarms (probes) per check
 *     falsePages: 1/year      # tolerated false pages per check
 *     timezone: Europe/London
 *     holidays: [2026-12-25]  # learned as, and judged by, the Sunday profile
 *     bucket: auto            # time-of-week resolution: auto (1h unless lumped) or a duration dividing a day
 *
 * Durations are strings parsed with src/lib/duration.ts. The parsed form has milliseconds.
 */
import { z } from 'zod';
import { parseDuration } from '../lib/duration.ts';

const DAY = 86_400_000;
const PERIOD_MS: Record<string, number> = {
  minute: 60_000,
  hour: 3_600_000,
  day: DAY,
  week: 7 * DAY,
  month: (365.25 / 12) * DAY,
  year: 365.25 * DAY,
};

export const durationSchema = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `not a duration: ${JSON.stringify(v)} (try 90s, 5m, 1h30m)` });
    return z.NEVER;
  }
  return ms;
});

/** '1/week' -> tolerated alarms per millisecond. */
export function parseRate(s: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*\/\s*(minute|hour|day|week|month|year)\s*$/.exec(s);
  if (!m) return undefined;
  return Number(m[1]) / PERIOD_MS[m[2]!]!;
}

export const rateSchema = z.string().transform((v, ctx) => {
  const r = parseRate(v);
  if (r === undefined || r <= 0) {
    ctx.addIssue({ code: 'custom', message: `not a rate: ${JSON.stringify(v)} (try 1/week, 2/year)` });
    return z.NEVER;
  }
  return r;
});

function validTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const LIMIT_MODELS = ['poisson', 'nb', 'gap'] as const;
export type LimitModelKind = (typeof LIMIT_MODELS)[number];

export const rateDropConfigSchema = z
  .object({
    /** Window the runtime counts events in (evaluated at the end of each window). */
    window: durationSchema.default(300_000).refine((w) => w >= 1000, { message: 'must be at least 1s' }),
    /** Required drop below the learned normal, as a fraction (0.8 = at least 80% below). */
    minDrop: z.number().gt(0).lt(1).default(0.8),
    /** Tolerated false rate-drop alarms. */
    falseAlarms: rateSchema.prefault('1/year'),
  })
  .strict();

export const learnConfigSchema = z
  .object({
    min: durationSchema,
    max: durationSchema,
    falseProbes: rateSchema.prefault('1/week'),
    falsePages: rateSchema.prefault('1/year'),
    timezone: z.string().default('UTC').refine(validTimezone, { message: 'unknown time zone' }),
    holidays: z.array(z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'dates as YYYY-MM-DD')).default([]),
    /**
     * Time-of-week resolution: a duration that divides a day, or auto (default): 1 h unless the
     * warm-up shows traffic lumped within the hour (a nightly batch of ten minutes), then the
     * coarsest of 30m, 15m, 10m, 5m that is not (ArrivalModel.chooseBucket).
     */
    bucket: z.union([z.literal('auto'), durationSchema]).default('auto'),
    /** How silences are judged: over-dispersed rate (nb, default), plain Poisson, or empirical gaps. */
    model: z.enum(LIMIT_MODELS).default('nb'),
    /** Old weeks fade with this half-life. */
    halfLife: durationSchema.default(28 * DAY),
    /** History needed before learned limits replace the bounds. */
    warmup: durationSchema.default(DAY),
    /** Follow the current level (slow day, holiday, partial outage): only ever lengthens limits. */
    adapt: z.boolean().default(true),
    /** nb: widen the tail when silences beyond the quiet limit occur more often than falseProbes says. */
    tailCalibration: z.boolean().optional(),
    /**
     * With a probe: the share of the check's probe budget (`probe.budget.perDay`) the quiet limit
     * may spend on quiet-triggered probes. The quiet tolerance becomes the larger of falseProbes
     * and share x perDay, so the money on the card buys detection speed (0: falseProbes only).
     */
    probeShare: z.number().min(0).max(1).default(0.5),
    rateDrop: rateDropConfigSchema.optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.max < c.min) ctx.addIssue({ code: 'custom', path: ['max'], message: 'must be at least min' });
    if (c.min <= 0) ctx.addIssue({ code: 'custom', path: ['min'], message: 'must be positive' });
    if (c.bucket !== 'auto' && (!(c.bucket > 0) || DAY % c.bucket !== 0)) ctx.addIssue({ code: 'custom', path: ['bucket'], message: 'must divide one day (e.g. 5m, 15m, 1h), or auto' });
    if (c.falsePages > c.falseProbes) ctx.addIssue({ code: 'custom', path: ['falsePages'], message: 'must not exceed falseProbes' });
  })
  // `bucket: auto` starts at 1 h (the model may choose a finer one after its warm-up).
  .transform(({ bucket, ...c }) => ({ ...c, bucket: bucket === 'auto' ? 3_600_000 : bucket, ...(bucket === 'auto' ? { bucketAuto: true as const } : {}) }));

export type LearnConfig = z.output<typeof learnConfigSchema>;
export type LearnConfigInput = z.input<typeof learnConfigSchema>;

/** `quietAfter` / `pageAfter`: 'auto' (learned) or a fixed duration in ms. */
export const autoDurationSchema = z.union([z.string(), z.number()]).transform((v, ctx): 'auto' | number => {
  if (v === 'auto') return 'auto';
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `not a duration or 'auto': ${JSON.stringify(v)} (try auto, 90s, 5m)` });
    return z.NEVER;
  }
  return ms;
});
export type AutoDuration = z.output<typeof autoDurationSchema>;

/**
 * The limit fields of a check. The lead's check schema can spread `learnedLimitsShape` into its own
 * object and add `.superRefine(refineLearnedLimits)` (zod refuses to extend a refined object).
 */
export const learnedLimitsShape = {
  quietAfter: autoDurationSchema,
  pageAfter: autoDurationSchema,
  learn: learnConfigSchema.optional(),
};

export function refineLearnedLimits(c: { quietAfter: AutoDuration; pageAfter: AutoDuration; learn?: LearnConfig | undefined }, ctx: z.RefinementCtx): void {
  const auto = c.quietAfter === 'auto' || c.pageAfter === 'auto';
  if (auto && !c.learn) ctx.addIssue({ code: 'custom', path: ['learn'], message: "required when quietAfter or pageAfter is 'auto'" });
  if (typeof c.quietAfter === 'number' && typeof c.pageAfter === 'number' && c.pageAfter < c.quietAfter) {
    ctx.addIssue({ code: 'custom', path: ['pageAfter'], message: 'must be longer than quietAfter' });
  }
}

export const learnedLimitsFieldsSchema = z.object(learnedLimitsShape).superRefine(refineLearnedLimits);
export type LearnedLimitsFields = z.output<typeof learnedLimitsFieldsSchema>;

export function parseLearnConfig(input: unknown): LearnConfig {
  return learnConfigSchema.parse(input);
}
