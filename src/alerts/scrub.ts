import type { Secret } from '../lib/secret.ts';

/** Replace every occurrence of the given secrets (or secret strings) in `text` with `<secret>`. */
export function scrub(text: string, ...secrets: (Secret | string | undefined)[]): string {
  let out = text;
  for (const s of secrets) {
    const v = typeof s === 'string' ? s : s?.reveal();
    if (v && v.length >= 4) out = out.split(v).join('<secret>');
  }
  return out;
}

/**
 * The parts of a secret URL (an incoming-webhook URL) a receiver might echo back: the whole URL,
 * its path and query, and each long path segment. Longest first so the whole is replaced before its parts.
 */
export function urlSecretParts(url: string): string[] {
  const parts = [url];
  try {
    const u = new URL(url);
    parts.push(u.pathname + u.search, u.pathname, ...u.pathname.split('/').filter((p) => p.length >= 8));
    if (u.search.length > 8) parts.push(u.search);
  } catch {
    /* not a URL: the whole string only */
  }
  return [...new Set(parts)].sort((a, b) => b.length - a.length);
}
