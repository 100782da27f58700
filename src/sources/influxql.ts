/**
 * InfluxQL quoting. Identifiers go in double quotes, string literals in single quotes; inside them a
 * backslash and the quote are escaped with a backslash (InfluxQL's scanner). Regex literals go between
 * slashes; `/` is escaped.
 */

/** `"name"` — a measurement, field, tag key or database name. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** `'value'` — a tag value or string literal. */
export function quoteString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

/** Escape a literal string for use inside an InfluxQL regex (`/^…$/`). */
export function regexLiteral(value: string): string {
  return value.replace(/[\\^$.|?*+()[\]{}/]/g, '\\$&');
}

/** `"tag" = 'v' AND "tag2" = 'w'` (sorted by key), or '' for no filter. */
export function tagFilter(where: Readonly<Record<string, string>>): string {
  return Object.keys(where)
    .sort()
    .map((k) => `${quoteIdent(k)} = ${quoteString(where[k]!)}`)
    .join(' AND ');
}

/** An RFC 3339 time literal for epoch ms. */
export function timeLiteral(ms: number): string {
  return `'${new Date(ms).toISOString()}'`;
}
