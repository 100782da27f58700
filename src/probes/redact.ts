import { Secret } from '../lib/secret.ts';

/**
 * Replace every occurrence of a secret's value in `text` with `<secret>`. Defence in depth for
 * text that comes back from a remote (error bodies that might echo a header or an API key).
 */
export function redactSecrets(text: string, secrets: Iterable<Secret | undefined>): string {
  let out = text;
  for (const s of secrets) {
    const v = s?.reveal();
    if (v && v.length >= 4) out = out.split(v).join('<secret>');
  }
  return out;
}
