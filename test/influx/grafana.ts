/**
 * Expand a dashboard query the way Grafana's InfluxDB (InfluxQL) datasource does before sending it:
 * `$timeFilter`, `$__interval`, and `${var:regex}` (each value regex-escaped; several values or All
 * become `(a|b)`).
 */

/** Grafana's escapeRegex (public/app/core/utils/kbn / @grafana/data). */
export function grafanaEscapeRegex(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&');
}

export function regexFormat(values: readonly string[]): string {
  const escaped = values.map(grafanaEscapeRegex);
  return escaped.length === 1 ? escaped[0]! : `(${escaped.join('|')})`;
}

export type TimeRange = { relative: string } | { from: number; to: number };

/** `time >= now() - 1h` for a relative range, `time >= Xms and time <= Yms` for an absolute one. */
export function timeFilter(range: TimeRange): string {
  return 'relative' in range ? `time >= now() - ${range.relative}` : `time >= ${range.from}ms and time <= ${range.to}ms`;
}

export function expandQuery(
  query: string,
  opts: { range: TimeRange; interval: string; vars?: Record<string, readonly string[]> },
): string {
  let q = query.replaceAll('$timeFilter', timeFilter(opts.range)).replaceAll('$__interval', opts.interval);
  q = q.replace(/\$\{(\w+):regex\}/g, (_m, name: string) => {
    const values = opts.vars?.[name];
    if (!values || values.length === 0) throw new Error(`no value for variable ${name} in: ${query}`);
    return regexFormat(values);
  });
  if (/\$\w/.test(q.replace(/\$\//g, ''))) throw new Error(`unexpanded variable left in: ${q}`);
  return q;
}
