/** zod pieces every config section shares: one duration type and one secret type. */
import { z } from 'zod';
import { parseDuration } from './duration.ts';
import { Secret, isSecret } from './secret.ts';

/** `'500ms'`, `'90s'`, `'2m'`, `'1h30m'`, `'1d'` or a number of milliseconds -> milliseconds. */
export const durationSchema = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `must be a duration like "500ms", "90s", "2m", "1h30m" (got ${JSON.stringify(v)})` });
    return z.NEVER;
  }
  return ms;
});

/** A value that must never print: a non-empty string (after ${ENV} substitution) or a Secret. */
export const secretSchema = z
  .union([z.custom<Secret>(isSecret, { message: 'expected a string or secret' }), z.string().min(1, 'must not be empty')])
  .transform((v) => (isSecret(v) ? v : new Secret(v)));
