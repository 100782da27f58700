/**
 * A small typed InfluxQL query and Grafana target builder (the foundation SDK has none for InfluxDB).
 * Queries are typed against the measurements quietwatch writes (src/metrics/measurements.ts): a panel
 * cannot select a field or group by a tag that is never written. Every query carries `$timeFilter`;
 * Grafana expands it, `$__interval` and `${var:regex}` before sending the query to InfluxDB, so the
 * same text runs on InfluxDB 1.x, 2.x (DBRP mapping) and 3.x.
 */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import { MEASUREMENTS, type FieldOf, type Measurement, type TagOf } from '../../src/metrics/measurements.ts';
import { quoteIdent, quoteString } from '../../src/sources/influxql.ts';

export const DATASOURCE = { type: 'influxdb', uid: 'quietwatch-influxdb' } as const;

export type Aggregate = 'last' | 'first' | 'mean' | 'median' | 'max' | 'min' | 'sum' | 'count' | 'spread';
/** `$__interval` (Grafana's auto interval) or a fixed InfluxQL duration. */
export type GroupInterval = '$__interval' | `${number}${'s' | 'm' | 'h' | 'd'}`;
export type Fill = 'none' | 'null' | 'previous' | 'linear' | number;
export type Math = `${'*' | '/' | '+' | '-'} ${number}`;

/** What a query is expected to return: its columns and the tags each series is grouped by. */
export interface QueryExpectation {
  measurement: Measurement;
  columns: string[];
  groupTags: string[];
  /** Set for "now" panels: only points this recent count, so a stopped quietwatch reads as no data. */
  live?: string;
}

interface Column {
  sql: string;
  name: string;
}

export class InfluxQL<M extends Measurement> {
  readonly #m: M;
  readonly #cols: Column[] = [];
  readonly #conds: string[] = [];
  readonly #groupTags: string[] = [];
  #interval: GroupInterval | undefined;
  #fill: Fill | undefined;
  #desc = false;
  #limit: number | undefined;
  #within: string | undefined;

  private constructor(m: M) {
    this.#m = m;
  }

  static from<M extends Measurement>(m: M): InfluxQL<M> {
    return new InfluxQL(m);
  }

  /** `fn("field") [math] AS "as"`; the column is named `as` (default: the function name). */
  select(fn: Aggregate, field: FieldOf<M>, opts: { as?: string; math?: Math } = {}): this {
    const name = opts.as ?? fn;
    const math = opts.math ? ` ${opts.math}` : '';
    this.#cols.push({ sql: `${fn}(${quoteIdent(field)})${math} AS ${quoteIdent(name)}`, name });
    return this;
  }

  /** A plain field or tag (raw rows, or the other columns of the point a selector picked). */
  column(field: FieldOf<M> | TagOf<M>, as?: string): this {
    this.#cols.push({ sql: as ? `${quoteIdent(field)} AS ${quoteIdent(as)}` : quoteIdent(field), name: as ?? field });
    return this;
  }

  /** `"tag" = 'value'`. */
  where(tag: TagOf<M>, value: string): this {
    this.#conds.push(`${quoteIdent(tag)} = ${quoteString(value)}`);
    return this;
  }

  /** `"tag" =~ /^${variable:regex}$/` — one value, several, or All, escaped by Grafana. */
  whereVariable(tag: TagOf<M>, variable: string): this {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable)) throw new Error(`bad variable name: ${variable}`);
    this.#conds.push(`${quoteIdent(tag)} =~ /^\${${variable}:regex}$/`);
    return this;
  }

  /**
   * Only points from the last `window` (`time > now() - 40s`), whatever the dashboard's time range:
   * a panel that shows "now" must go blank when quietwatch stops writing, not keep showing the
   * last value of the range. Pair it with the panel's `noValue`.
   */
  within(window: `${number}${'s' | 'm'}`): this {
    this.#within = window;
    return this;
  }

  groupByTime(interval: GroupInterval): this {
    this.#interval = interval;
    return this;
  }

  groupBy(...tags: TagOf<M>[]): this {
    this.#groupTags.push(...tags);
    return this;
  }

  fill(fill: Fill): this {
    this.#fill = fill;
    return this;
  }

  newestFirst(): this {
    this.#desc = true;
    return this;
  }

  limit(n: number): this {
    this.#limit = n;
    return this;
  }

  get measurement(): M {
    return this.#m;
  }

  expectation(): QueryExpectation {
    return { measurement: this.#m, columns: ['time', ...this.#cols.map((c) => c.name)], groupTags: [...this.#groupTags], ...(this.#within ? { live: this.#within } : {}) };
  }

  toString(): string {
    if (this.#cols.length === 0) throw new Error(`query on ${this.#m} selects nothing`);
    const fields = MEASUREMENTS[this.#m].fields as readonly string[];
    if (!this.#cols.some((c) => fields.some((f) => c.sql.includes(quoteIdent(f))))) {
      throw new Error(`query on ${this.#m} must select at least one field`);
    }
    const time = this.#within ? `time > now() - ${this.#within}` : '$timeFilter';
    let q = `SELECT ${this.#cols.map((c) => c.sql).join(', ')} FROM ${quoteIdent(this.#m)} WHERE ${[...this.#conds, time].join(' AND ')}`;
    const groups = [...(this.#interval ? [`time(${this.#interval})`] : []), ...this.#groupTags.map(quoteIdent)];
    if (groups.length) q += ` GROUP BY ${groups.join(', ')}`;
    if (this.#fill !== undefined) {
      if (!this.#interval) throw new Error('fill() needs groupByTime()');
      q += ` fill(${this.#fill})`;
    }
    if (this.#desc) q += ' ORDER BY time DESC';
    if (this.#limit !== undefined) q += ` LIMIT ${this.#limit}`;
    return q;
  }
}

/** `SHOW TAG VALUES FROM "m" WITH KEY = "key" [WHERE "tag" =~ /^${var:regex}$/]` for a query variable. */
export function showTagValues<M extends Measurement>(m: M, key: TagOf<M>, filter?: { tag: TagOf<M>; variable: string }): string {
  let q = `SHOW TAG VALUES FROM ${quoteIdent(m)} WITH KEY = ${quoteIdent(key)}`;
  if (filter) q += ` WHERE ${quoteIdent(filter.tag)} =~ /^\${${filter.variable}:regex}$/`;
  return q;
}

/** The Grafana target JSON of an InfluxQL (raw) query. */
export interface InfluxQLTarget extends cog.Dataquery {
  refId: string;
  datasource: { type: string; uid: string };
  query: string;
  rawQuery: true;
  resultFormat: 'time_series' | 'table';
  alias?: string;
  hide?: boolean;
  /** Not serialised: what the query returns (tests run every panel's query against a real InfluxDB). */
  readonly expect?: QueryExpectation;
}

export class InfluxQLTargetBuilder implements cog.Builder<cog.Dataquery> {
  readonly #query: InfluxQL<Measurement>;
  #refId = 'A';
  #alias: string | undefined;
  #format: 'time_series' | 'table' = 'time_series';

  constructor(query: InfluxQL<Measurement>) {
    this.#query = query;
  }
  refId(refId: string): this {
    this.#refId = refId;
    return this;
  }
  /** Series name, e.g. `$tag_check` or `$col`. */
  alias(alias: string): this {
    this.#alias = alias;
    return this;
  }
  table(): this {
    this.#format = 'table';
    return this;
  }
  build(): InfluxQLTarget {
    const t: InfluxQLTarget = {
      refId: this.#refId,
      datasource: { ...DATASOURCE },
      query: this.#query.toString(),
      rawQuery: true,
      resultFormat: this.#format,
      ...(this.#alias !== undefined ? { alias: this.#alias } : {}),
      _implementsDataqueryVariant() {},
    };
    Object.defineProperty(t, '_implementsDataqueryVariant', { enumerable: false });
    Object.defineProperty(t, 'expect', { value: this.#query.expectation(), enumerable: false });
    return t;
  }
}

/** `target(InfluxQL.from('qw_check').select(...))` */
export function target(query: InfluxQL<Measurement>): InfluxQLTargetBuilder {
  return new InfluxQLTargetBuilder(query);
}
