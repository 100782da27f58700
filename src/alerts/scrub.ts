import type { Secret } from '../lib/secret.ts';

/** Replace every occurrence of the given secrets' values in `text` with `<secret>`. */
export function scrub(text: string, ...secrets: (Secret | undefined)[]): string {
  let out = text;
  for (const s of secrets) {
    const v = s?.reveal();
    if (v && v.length >= 4) out = out.split(v).join('<secret>');
  }
  return out;
}
