/**
 * `watchdog:` in the config — quietwatch's own heartbeat to an external dead man's switch
 * (Healthchecks.io, Cronitor, or any HTTP receiver). The URL is a secret: a Healthchecks ping URL
 * carries the check's UUID, and anyone holding it can silence the alarm.
 */
import { z } from 'zod';
import { durationSchema, secretSchema } from '../lib/schema.ts';

const httpUrl = secretSchema.superRefine((s, ctx) => {
  let u: URL | undefined;
  try {
    u = new URL(s.reveal());
  } catch {
    /* below */
  }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
    // Never echo the value: it is a secret.
    ctx.addIssue({ code: 'custom', message: 'must be an http:// or https:// URL' });
  }
});

export const watchdogConfigSchema = z
  .object({
    url: httpUrl.describe('Where the heartbeat goes (a Healthchecks.io / Cronitor ping URL, or any receiver). A secret: never logged'),
    every: durationSchema.default(30_000).describe('How often the heartbeat goes out while quietwatch is healthy'),
    method: z.enum(['GET', 'POST', 'HEAD']).default('POST').describe('POST sends a short plain-text body with the component states'),
    timeout: durationSchema.default(10_000).describe('Each heartbeat request gives up after this long'),
    onUnhealthy: z
      .enum(['stop', 'fail'])
      .optional()
      .describe('stop: send nothing while a component fails (the receiver alarms when the heartbeat is late). fail: send the failure URL at once. Default: fail for Healthchecks/Cronitor URLs (or when failUrl is set), else stop'),
    failUrl: httpUrl.optional().describe('Where a failure goes (default: the Healthchecks `/fail` or Cronitor `?state=fail` form of url)'),
  })
  .superRefine((w, ctx) => {
    if (w.every < 1000) ctx.addIssue({ code: 'custom', path: ['every'], message: 'must be at least 1s' });
    if (w.timeout >= w.every) ctx.addIssue({ code: 'custom', path: ['timeout'], message: 'must be shorter than every (a slow receiver must not stack heartbeats)' });
  });

export type WatchdogConfig = z.output<typeof watchdogConfigSchema>;
