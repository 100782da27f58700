/** zod pieces shared by the metrics and sources config schemas. */
import { z } from 'zod';
import { parseDuration } from '../lib/duration.ts';
import { Secret } from '../lib/secret.ts';

/** `'10s'`, `'1m30s'` or milliseconds -> milliseconds. */
export const durationMs = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `not a duration: ${JSON.stringify(v)} (use e.g. "10s", "2m", "500ms")` });
    return z.NEVER;
  }
  return ms;
});

/** A secret from config: a plain string (after ${ENV} expansion) or an already wrapped Secret. */
export const secretSchema = z.union([z.instanceof(Secret), z.string().min(1).transform((s) => new Secret(s))]);
