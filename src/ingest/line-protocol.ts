/**
 * InfluxDB line protocol -> ingest events (pure: no clock, no I/O).
 *
 *   measurement[,tag=value...] field=value[,field=value...] [timestamp]
 *
 * Each point becomes one event on the stream named by its measurement; its tags become string
 * attributes and its fields typed attributes (a tag wins over a field of the same name); its
 * timestamp, read in the request's precision, becomes the event time (without one, the arrival
 * time). All or nothing, like `/v1/events`: one bad line rejects the body, and each problem names
 * its 1-based line. The grammar is InfluxDB's (1.x and 2.x): `\` escapes `,` and space in a
 * measurement, `,` `=` and space in tag keys, tag values and field keys, `"` and `\` in a string
 * field (which may span lines); floats, `i` integers, `u` unsigned integers, strings, booleans
 * (t/T/true/True/TRUE, f/F/false/False/FALSE); `#` comments and blank lines are skipped. Event
 * times obey the bound of `/v1/events` (`ingest.maxClockSkew` of arrival, either way).
 */
import type { AttrValue, IngestEvent } from '../checks/runtime.ts';
import { DEFAULT_MAX_CLOCK_SKEW_MS, IngestError, streamProblem, type IngestProblem, type ParseOptions } from './parse.ts';

export type Precision = 'ns' | 'us' | 'ms' | 's' | 'm' | 'h';

/** Nanoseconds per unit, as BigInt (timestamps in ns do not fit a double). */
const NS_PER: Record<Precision, bigint> = { ns: 1n, us: 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n };

/**
 * The `precision` query parameter: InfluxDB 2.x takes ns|us|ms|s; 1.x takes n|ns|u|us|µ|ms|s|m|h.
 * Absent: nanoseconds, as in both. Returns undefined for anything else.
 */
export function parsePrecision(raw: string | undefined, api: 'v1' | 'v2'): Precision | undefined {
  if (raw === undefined || raw === '') return 'ns';
  const v2: Record<string, Precision> = { ns: 'ns', us: 'us', ms: 'ms', s: 's' };
  const v1: Record<string, Precision> = { ...v2, n: 'ns', u: 'us', µ: 'us', m: 'm', h: 'h' };
  return (api === 'v2' ? v2 : v1)[raw];
}

export const PRECISIONS = { v1: 'n, ns, u, us, ms, s, m, h', v2: 'ns, us, ms, s' } as const;

const MAX_PROBLEMS = 20;
const MAX_STREAM = 200;
/** Event times must lie in [1973, 3000) once converted: outside is almost certainly the wrong precision. */
const MIN_EPOCH_MS = 1e11;
const MAX_EPOCH_MS = 32503680000000;

const BOOL: Record<string, boolean> = { t: true, T: true, true: true, True: true, TRUE: true, f: false, F: false, false: false, False: false, FALSE: false };
const FLOAT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const INT = /^[+-]?\d+i$/;
const UINT = /^\d+u$/;
const TIMESTAMP = /^-?\d+$/;
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;
const UINT64_MAX = 18446744073709551615n;

class LineFault extends Error {
  constructor(
    readonly field: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** Where one parse stands: the body, the offset, the line the offset is on. */
interface Cursor {
  s: string;
  i: number;
  line: number;
}

/**
 * Read an escaped token up to (not including) one of `stops` or the end of the line. `\` escapes
 * any of `escapable`; any other backslash is literal, as in InfluxDB.
 */
function token(c: Cursor, stops: string, escapable: string): string {
  let out = '';
  const { s } = c;
  while (c.i < s.length) {
    const ch = s[c.i]!;
    if (ch === '\\' && c.i + 1 < s.length && escapable.includes(s[c.i + 1]!)) {
      out += s[c.i + 1];
      c.i += 2;
      continue;
    }
    if (ch === '\n' || stops.includes(ch)) break;
    out += ch;
    c.i++;
  }
  return out;
}

function fieldValue(c: Cursor, key: string): AttrValue {
  const { s } = c;
  if (s[c.i] === '"') {
    c.i++;
    let out = '';
    while (c.i < s.length) {
      const ch = s[c.i]!;
      if (ch === '\\' && (s[c.i + 1] === '"' || s[c.i + 1] === '\\')) {
        out += s[c.i + 1];
        c.i += 2;
        continue;
      }
      if (ch === '"') {
        c.i++;
        return out;
      }
      if (ch === '\n') c.line++;
      out += ch;
      c.i++;
    }
    throw new LineFault(key, 'unterminated string value (a closing " is missing)');
  }
  const start = c.i;
  while (c.i < s.length && s[c.i] !== ',' && s[c.i] !== ' ' && s[c.i] !== '\n') c.i++;
  const raw = s.slice(start, c.i).replace(/\r$/, '');
  if (raw === '') throw new LineFault(key, 'has no value');
  if (raw in BOOL) return BOOL[raw]!;
  if (INT.test(raw)) {
    const b = BigInt(raw.slice(0, -1));
    if (b > INT64_MAX || b < INT64_MIN) throw new LineFault(key, `integer ${raw} is out of the int64 range`);
    return Number(b);
  }
  if (UINT.test(raw)) {
    const b = BigInt(raw.slice(0, -1));
    if (b > UINT64_MAX) throw new LineFault(key, `unsigned integer ${raw} is out of the uint64 range`);
    return Number(b);
  }
  if (FLOAT.test(raw)) {
    const f = Number(raw);
    if (!Number.isFinite(f)) throw new LineFault(key, `float ${raw} is out of range`);
    return f;
  }
  throw new LineFault(key, `invalid value ${JSON.stringify(raw.slice(0, 40))}: expected a float (1.5), an integer (15i), an unsigned integer (15u), a "string" or a boolean (true/false)`);
}

function skew(ms: number): string {
  return ms % 86_400_000 === 0 ? `${ms / 86_400_000} day(s)` : ms % 3_600_000 === 0 ? `${ms / 3_600_000} hour(s)` : `${ms} ms`;
}

function toMs(raw: string, precision: Precision, arrivedAt: number, maxSkewMs: number): number {
  if (!TIMESTAMP.test(raw)) throw new LineFault('timestamp', `invalid timestamp ${JSON.stringify(raw.slice(0, 40))}: expected an integer in precision ${precision}`);
  const ns = BigInt(raw) * NS_PER[precision];
  // Floor to whole milliseconds (event times are epoch ms).
  const ms = Number(ns >= 0n ? ns / 1_000_000n : (ns - 999_999n) / 1_000_000n);
  if (ms < MIN_EPOCH_MS) throw new LineFault('timestamp', `timestamp ${raw} read in precision ${precision} is ${new Date(ms).toISOString().slice(0, 10)}: wrong precision? (set precision=s, ms, us or ns to match the client)`);
  if (ms >= MAX_EPOCH_MS) throw new LineFault('timestamp', `timestamp ${raw} read in precision ${precision} is after the year 3000: wrong precision?`);
  // The bound of /v1/events (ingest.maxClockSkew), either way.
  if (ms > arrivedAt + maxSkewMs) throw new LineFault('timestamp', `timestamp ${raw} (${precision}) is more than ${skew(maxSkewMs)} after arrival (clock skew or a unit mistake)`);
  if (ms < arrivedAt - maxSkewMs) throw new LineFault('timestamp', `timestamp ${raw} (${precision}) is more than ${skew(maxSkewMs)} before arrival (too old to measure lag by)`);
  return ms;
}

/** Parse one line starting at c.i (not blank, not a comment); leaves c.i at its terminating newline or the end. */
function parseLine(c: Cursor, arrivedAt: number, precision: Precision, maxSkewMs: number): IngestEvent {
  const { s } = c;
  const measurement = token(c, ', ', ', ');
  if (measurement === '') throw new LineFault('measurement', 'the measurement (stream) is missing');
  if (measurement.length > MAX_STREAM) throw new LineFault('measurement', `the measurement (stream) is longer than ${MAX_STREAM} characters`);
  const bad = streamProblem(measurement);
  if (bad) throw new LineFault('measurement', `the measurement (stream) ${bad}`);
  const tags: Record<string, string> = {};
  while (s[c.i] === ',') {
    c.i++;
    const key = token(c, '=, ', ',= ');
    if (key === '') throw new LineFault('tags', 'a tag key is missing (a tag is key=value)');
    if (s[c.i] !== '=') throw new LineFault(key, `tag "${key}" has no value (a tag is key=value)`);
    c.i++;
    const value = token(c, ', =', ',= ');
    if (value === '') throw new LineFault(key, `tag "${key}" has an empty value`);
    if (s[c.i] === '=') throw new LineFault(key, `tag "${key}": an unescaped "=" in the value (escape it as \\=)`);
    tags[key] = value;
  }
  if (s[c.i] !== ' ') throw new LineFault('fields', c.i >= s.length || s[c.i] === '\n' || s[c.i] === '\r' ? 'the field set is missing (at least one field=value after a space)' : `unexpected ${JSON.stringify(s[c.i])} after the tags`);
  while (s[c.i] === ' ') c.i++;
  const fields: Record<string, AttrValue> = {};
  let nFields = 0;
  for (;;) {
    const key = token(c, '= ,', ',= ');
    if (key === '') throw new LineFault('fields', nFields === 0 ? 'the field set is missing (at least one field=value after a space)' : 'a field key is missing');
    if (s[c.i] !== '=') throw new LineFault(key, `field "${key}" has no value (a field is key=value)`);
    c.i++;
    fields[key] = fieldValue(c, key);
    nFields++;
    if (s[c.i] === ',') {
      c.i++;
      continue;
    }
    break;
  }
  let time = arrivedAt;
  let stamped = false;
  if (s[c.i] === ' ') {
    while (s[c.i] === ' ') c.i++;
    const start = c.i;
    while (c.i < s.length && s[c.i] !== ' ' && s[c.i] !== '\n') c.i++;
    const raw = s.slice(start, c.i).replace(/\r$/, '');
    if (raw !== '') {
      time = toMs(raw, precision, arrivedAt, maxSkewMs);
      stamped = true;
    }
    while (s[c.i] === ' ' || s[c.i] === '\r') c.i++;
  }
  if (s[c.i] === '\r') c.i++;
  if (c.i < s.length && s[c.i] !== '\n') {
    const end = s.indexOf('\n', c.i);
    const rest = s.slice(c.i, end < 0 ? s.length : end).replace(/\r$/, '');
    throw new LineFault(undefined, `unexpected ${JSON.stringify(rest.slice(0, 40))} after the ${stamped ? 'timestamp' : 'fields'}`);
  }
  const attributes: Record<string, AttrValue> = { ...fields, ...tags };
  return { stream: measurement, arrivedAt, time, attributes };
}

/**
 * Parse a line-protocol body into events. Throws `IngestError` (problems with 1-based `line`,
 * `field` naming the part: measurement, tags, fields, timestamp, or the tag/field key) when any
 * line is bad, or when there is no point at all.
 */
export function parseLineProtocol(body: string, arrivedAt: number, precision: Precision = 'ns', opts: ParseOptions = {}): IngestEvent[] {
  const maxSkewMs = opts.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
  const c: Cursor = { s: body, i: 0, line: 1 };
  const out: IngestEvent[] = [];
  const problems: IngestProblem[] = [];
  const s = body;
  while (c.i < s.length && problems.length < MAX_PROBLEMS) {
    // Skip leading blanks of the line.
    while (c.i < s.length && (s[c.i] === ' ' || s[c.i] === '\t' || s[c.i] === '\r')) c.i++;
    if (c.i >= s.length) break;
    if (s[c.i] === '\n') {
      c.i++;
      c.line++;
      continue;
    }
    const line = c.line;
    if (s[c.i] === '#') {
      while (c.i < s.length && s[c.i] !== '\n') c.i++;
      continue;
    }
    try {
      out.push(parseLine(c, arrivedAt, precision, maxSkewMs));
    } catch (err) {
      if (!(err instanceof LineFault)) throw err;
      problems.push({ line, ...(err.field !== undefined ? { field: err.field } : {}), message: err.message });
      // Skip the rest of this line (a broken string may have swallowed later lines: they stay in it).
      while (c.i < s.length && s[c.i] !== '\n') c.i++;
    }
  }
  if (problems.length > 0) throw new IngestError(problems);
  if (out.length === 0) throw new IngestError([{ message: 'no points in the body: send InfluxDB line protocol, one point a line' }]);
  return out;
}

/** Encode events as line protocol (tests and tools: the inverse of parseLineProtocol for tag-only strings). */
export function escapeMeasurement(s: string): string {
  return s.replace(/[, ]/g, (m) => `\\${m}`);
}
export function escapeKey(s: string): string {
  return s.replace(/[,= ]/g, (m) => `\\${m}`);
}
