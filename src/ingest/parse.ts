/**
 * Parse and validate an ingest body: a JSON array (or one object) or NDJSON of events
 * `{stream, time?, id?, attributes?}`. All or nothing: one bad event rejects the request, and the
 * error names the line (NDJSON) or index (array) and the field.
 */
import type { AttrValue, IngestEvent } from '../checks/runtime.ts';

export interface IngestProblem {
  /** 1-based line for NDJSON, 0-based index for a JSON array. */
  line?: number;
  index?: number;
  field?: string;
  message: string;
}

export class IngestError extends Error {
  constructor(readonly problems: IngestProblem[]) {
    super(problems.map(describeProblem).join('; '));
    this.name = 'IngestError';
  }
}

export function describeProblem(p: IngestProblem): string {
  const where = p.line !== undefined ? `line ${p.line}` : p.index !== undefined ? `event [${p.index}]` : 'body';
  return `${where}${p.field ? `: field "${p.field}"` : ''}: ${p.message}`;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const KNOWN = new Set(['stream', 'time', 'id', 'attributes']);
const MAX_PROBLEMS = 20;
/** Epoch ms below this (1973) is almost certainly epoch seconds sent by mistake. */
const MIN_EPOCH_MS = 1e11;
/** Default bound on event time against arrival time, either way (config `ingest.maxClockSkew`). */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 86_400_000;
/** Deepest JSON nesting accepted in a body (an event is 3 levels; attributes may nest a little). */
export const MAX_JSON_DEPTH = 32;
// Letters, digits, punctuation, spaces inside; no control characters, not blank.
const CONTROL = /[\u0000-\u001f\u007f]/;

export interface ParseOptions {
  /** Event times further than this from arrival, either way, are rejected (default 1 day). */
  maxClockSkewMs?: number;
}

/**
 * True when `text` nests arrays/objects deeper than `max` (scanned without parsing, outside
 * strings), so a 10,000-deep body is refused before JSON.parse or anything recursive sees it.
 */
export function jsonTooDeep(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) return true;
    } else if (c === 125 || c === 93) depth--;
  }
  return false;
}

const tooDeepMessage = (max = MAX_JSON_DEPTH) => `JSON nested deeper than ${max} levels`;

function formatSkew(ms: number): string {
  return ms % 86_400_000 === 0 ? `${ms / 86_400_000} day(s)` : ms % 3_600_000 === 0 ? `${ms / 3_600_000} hour(s)` : `${ms} ms`;
}

function parseTime(v: unknown, arrivedAt: number, maxSkewMs: number): number | string {
  let t: number;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return 'must be a finite number';
    if (v < MIN_EPOCH_MS) return `must be epoch milliseconds (${v} looks like seconds)`;
    t = v;
  } else if (typeof v === 'string') {
    if (!RFC3339.test(v)) return 'must be an RFC 3339 timestamp like 2026-11-29T17:00:00Z, or epoch milliseconds';
    t = Date.parse(v);
    if (Number.isNaN(t)) return 'is not a valid date';
    // Date.parse rolls 2026-02-30 over to March: the calendar date must exist as written.
    const [y, mo, d] = v.slice(0, 10).split('-').map(Number) as [number, number, number];
    const cal = new Date(Date.UTC(y, mo - 1, d));
    if (cal.getUTCFullYear() !== y || cal.getUTCMonth() !== mo - 1 || cal.getUTCDate() !== d) return `is not a calendar date (${v.slice(0, 10)})`;
  } else return 'must be an RFC 3339 string or epoch milliseconds';
  // One bound for strings and numbers alike: within maxSkew of arrival, either way.
  if (t > arrivedAt + maxSkewMs) return `is more than ${formatSkew(maxSkewMs)} after arrival (clock skew or a unit mistake)`;
  if (t < arrivedAt - maxSkewMs) return `is more than ${formatSkew(maxSkewMs)} before arrival (too old to measure lag by)`;
  return t;
}

/** Why a stream name is refused, or undefined when it is fine. */
export function streamProblem(stream: unknown): string | undefined {
  if (stream === undefined) return 'is required';
  if (typeof stream !== 'string' || stream.length === 0 || stream.length > 200) return 'must be a non-empty string of at most 200 characters';
  if (stream.trim().length === 0) return 'must not be blank';
  if (CONTROL.test(stream)) return 'must not contain control characters';
  return undefined;
}

/** Validate one already-parsed event object (POST /v1/streams/{stream}/ping uses this directly). */
export function validateEvent(raw: unknown, arrivedAt: number, opts: ParseOptions = {}): IngestEvent {
  const problems: IngestProblem[] = [];
  const ev = validate(raw, {}, arrivedAt, problems, opts.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS);
  if (!ev || problems.length) throw new IngestError(problems.length ? problems : [{ message: 'invalid event' }]);
  return ev;
}

function validate(raw: unknown, where: { line?: number; index?: number }, arrivedAt: number, problems: IngestProblem[], maxSkewMs: number): IngestEvent | undefined {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push({ ...where, message: 'must be a JSON object {stream, time?, id?, attributes?}' });
    return undefined;
  }
  const o = raw as Record<string, unknown>;
  let ok = true;
  for (const k of Object.keys(o)) {
    if (!KNOWN.has(k)) {
      problems.push({ ...where, field: k, message: 'is not a known field (stream, time, id, attributes)' });
      ok = false;
    }
  }
  const stream = o.stream;
  const sp = streamProblem(stream);
  if (sp) {
    problems.push({ ...where, field: 'stream', message: sp });
    ok = false;
  }
  let time = arrivedAt;
  if (o.time !== undefined && o.time !== null) {
    const t = parseTime(o.time, arrivedAt, maxSkewMs);
    if (typeof t === 'string') {
      problems.push({ ...where, field: 'time', message: t });
      ok = false;
    } else time = t;
  }
  if (o.id !== undefined && (typeof o.id !== 'string' || o.id.length > 200)) {
    problems.push({ ...where, field: 'id', message: 'must be a string of at most 200 characters' });
    ok = false;
  }
  let attributes: Record<string, AttrValue> = {};
  if (o.attributes !== undefined && o.attributes !== null) {
    if (typeof o.attributes !== 'object' || Array.isArray(o.attributes)) {
      problems.push({ ...where, field: 'attributes', message: 'must be an object of attribute values' });
      ok = false;
    } else attributes = o.attributes as Record<string, AttrValue>;
  }
  if (!ok) return undefined;
  const ev: IngestEvent = { stream: stream as string, arrivedAt, time, attributes };
  if (typeof o.id === 'string') ev.id = o.id;
  return ev;
}

/** Parse a body. `kind` comes from the content type; 'auto' looks at the first character. */
export function parseEvents(body: string, arrivedAt: number, kind: 'json' | 'ndjson' | 'auto' = 'auto', opts: ParseOptions = {}): IngestEvent[] {
  const maxSkewMs = opts.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
  const trimmed = body.trimStart();
  if (trimmed.length === 0) throw new IngestError([{ message: 'the body is empty: send a JSON array or NDJSON of events' }]);
  const mode = kind === 'auto' ? (trimmed[0] === '[' ? 'json' : trimmed.includes('\n') ? 'ndjson' : 'json') : kind;
  const problems: IngestProblem[] = [];
  const out: IngestEvent[] = [];
  if (mode === 'json') {
    if (jsonTooDeep(body)) throw new IngestError([{ message: tooDeepMessage() }]);
    let raw: unknown;
    try {
      raw = JSON.parse(body);
    } catch (err) {
      throw new IngestError([{ message: `malformed JSON: ${(err as Error).message}` }]);
    }
    const list = Array.isArray(raw) ? raw : [raw];
    list.forEach((r, index) => {
      if (problems.length >= MAX_PROBLEMS) return;
      const ev = validate(r, Array.isArray(raw) ? { index } : {}, arrivedAt, problems, maxSkewMs);
      if (ev) out.push(ev);
    });
  } else {
    const lines = body.split('\n');
    for (let i = 0; i < lines.length && problems.length < MAX_PROBLEMS; i++) {
      const line = lines[i]!.trim();
      if (line.length === 0) continue;
      if (jsonTooDeep(line)) {
        problems.push({ line: i + 1, message: tooDeepMessage() });
        continue;
      }
      let raw: unknown;
      try {
        raw = JSON.parse(line);
      } catch (err) {
        problems.push({ line: i + 1, message: `malformed JSON: ${(err as Error).message}` });
        continue;
      }
      const ev = validate(raw, { line: i + 1 }, arrivedAt, problems, maxSkewMs);
      if (ev) out.push(ev);
    }
  }
  if (problems.length > 0) throw new IngestError(problems);
  if (out.length === 0) throw new IngestError([{ message: 'no events in the body' }]);
  return out;
}
