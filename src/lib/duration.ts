/** Durations in config: `90s`, `2m`, `1h30m`, `500ms`, `1d`, or a number of milliseconds. Units largest first, each once. */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g;

export function parseDuration(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isFinite(input) && input >= 0 ? input : undefined;
  const s = input.trim();
  if (!s) return undefined;
  let total = 0;
  let consumed = 0;
  // Units go from largest to smallest, each at most once: "1h30m", never "1h1h" or "30m1h".
  let lastUnit = Infinity;
  for (const m of s.matchAll(PART)) {
    if (m.index !== consumed) return undefined;
    const unit = UNIT_MS[m[2]!]!;
    if (unit >= lastUnit) return undefined;
    lastUnit = unit;
    total += Number(m[1]) * unit;
    consumed += m[0].length;
  }
  return consumed === s.length && Number.isFinite(total) ? total : undefined;
}

/** The last durations formatted (a storm formats the same few limits 100,000 times). */
const FORMATTED = new Map<number, string>();
const FORMATTED_MAX = 512;

export function formatDuration(ms: number): string {
  let s = FORMATTED.get(ms);
  if (s === undefined) {
    s = format(ms);
    if (FORMATTED.size >= FORMATTED_MAX) FORMATTED.clear();
    FORMATTED.set(ms, s);
  }
  return s;
}

function format(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${+s.toFixed(1)}s`;
  const parts: string[] = [];
  let rest = Math.round(s);
  for (const [u, n] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (rest >= n) {
      parts.push(`${Math.floor(rest / n)}${u}`);
      rest %= n;
    }
  }
  return parts.join('');
}
