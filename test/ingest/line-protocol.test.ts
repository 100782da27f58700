import { describe, expect, it } from 'vitest';
import { Point } from '@influxdata/influxdb-client';
import { parseLineProtocol, parsePrecision } from '../../src/ingest/line-protocol.ts';
import { IngestError } from '../../src/ingest/parse.ts';

const NOW = Date.UTC(2026, 11, 2, 1, 0, 0);
const T = Date.UTC(2026, 11, 2, 0, 59, 0);

function problems(body: string, precision: Parameters<typeof parseLineProtocol>[2] = 'ns') {
  try {
    parseLineProtocol(body, NOW, precision);
  } catch (err) {
    expect(err).toBeInstanceOf(IngestError);
    return (err as IngestError).problems;
  }
  throw new Error('expected the body to be rejected');
}

describe('line protocol parser', () => {
  it('turns a point into an event: measurement -> stream, tags and fields -> attributes, timestamp -> time', () => {
    const [ev] = parseLineProtocol(`card_auth,scheme=visa,acquirer=acme amount=1250i,currency="gbp",approved=true,score=0.75,big=7u ${T}000000`, NOW);
    expect(ev).toEqual({ stream: 'card_auth', arrivedAt: NOW, time: T, attributes: { scheme: 'visa', acquirer: 'acme', amount: 1250, currency: 'gbp', approved: true, score: 0.75, big: 7 } });
  });

  it.each([
    ['ns', `${T}000000`],
    ['us', `${T}000`],
    ['ms', `${T}`],
    ['s', `${T / 1000}`],
    ['m', `${T / 60_000}`],
    ['h', `${Date.UTC(2026, 11, 2, 0) / 3_600_000}`],
  ] as const)('reads the timestamp in precision %s', (precision, ts) => {
    const [ev] = parseLineProtocol(`m f=1 ${ts}`, NOW, precision);
    expect(ev!.time).toBe(precision === 'h' ? Date.UTC(2026, 11, 2, 0) : T);
  });

  it('floors sub-millisecond timestamps and uses the arrival time when there is none', () => {
    const [a, b] = parseLineProtocol(`m f=1 ${T}999999\nm f=2`, NOW);
    expect(a!.time).toBe(T);
    expect(b!.time).toBe(NOW);
  });

  it('maps the precision parameter of each API', () => {
    expect(parsePrecision(undefined, 'v2')).toBe('ns');
    expect(parsePrecision('us', 'v2')).toBe('us');
    expect(parsePrecision('u', 'v2')).toBeUndefined();
    expect(parsePrecision('h', 'v2')).toBeUndefined();
    expect(parsePrecision('n', 'v1')).toBe('ns');
    expect(parsePrecision('u', 'v1')).toBe('us');
    expect(parsePrecision('h', 'v1')).toBe('h');
    expect(parsePrecision('x', 'v1')).toBeUndefined();
  });

  it('unescapes measurement, tag and field keys, tag values and strings as InfluxDB does', () => {
    const [ev] = parseLineProtocol(String.raw`card\ auth\,eu,sch\=eme=vi\ sa\,x,k=a\b str="say \"hi\" \\ ok",f\ 1=1i ${T}000000`, NOW);
    expect(ev!.stream).toBe('card auth,eu');
    expect(ev!.attributes).toEqual({ 'sch=eme': 'vi sa,x', k: 'a\\b', str: 'say "hi" \\ ok', 'f 1': 1 });
  });

  it('reads booleans in every spelling, floats with exponents, negative integers', () => {
    const [ev] = parseLineProtocol('m a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE,k=-1.5e3,l=-42i,m=.5', NOW);
    expect(ev!.attributes).toEqual({ a: true, b: true, c: true, d: true, e: true, f: false, g: false, h: false, i: false, j: false, k: -1500, l: -42, m: 0.5 });
  });

  it('a tag wins over a field of the same name', () => {
    const [ev] = parseLineProtocol('m,scheme=visa scheme="other",n=1i', NOW);
    expect(ev!.attributes).toEqual({ scheme: 'visa', n: 1 });
  });

  it('skips comments, blank lines, CRLF line ends and surrounding blanks; a string may span lines', () => {
    const evs = parseLineProtocol(`# a comment\r\n\r\n  a f=1i ${T}000000  \r\n\nb note="two\nlines" ${T}000000\n`, NOW);
    expect(evs.map((e) => e.stream)).toEqual(['a', 'b']);
    expect(evs[1]!.attributes.note).toBe('two\nlines');
  });

  it('matches what the official InfluxDB client writes', () => {
    const p = new Point('card auth').tag('scheme', 'visa,x=1').tag('acq', 'a b').intField('amount', 1250).floatField('score', 0.5).stringField('memo', 'a "quoted" \\ memo').booleanField('ok', true).timestamp(`${T}000000`);
    const line = p.toLineProtocol()!;
    const [ev] = parseLineProtocol(line, NOW);
    expect(ev).toEqual({ stream: 'card auth', arrivedAt: NOW, time: T, attributes: { scheme: 'visa,x=1', acq: 'a b', amount: 1250, score: 0.5, memo: 'a "quoted" \\ memo', ok: true } });
  });

  it.each([
    ['a missing field set', 'm,t=1', 'fields', /field set is missing/],
    ['a measurement with tags but a space before the fields missing', 'm,t=1,', 'tags', /tag key is missing/],
    ['an empty measurement', ',t=1 f=1', 'measurement', /measurement/],
    ['a tag without a value', 'm,t f=1', 't', /has no value/],
    ['a tag with an empty value', 'm,t= f=1', 't', /empty value/],
    ['a field without a value', 'm f=', 'f', /has no value/],
    ['a field without "="', 'm f', 'f', /has no value/],
    ['a bad field value', 'm f=12x', 'f', /invalid value "12x"/],
    ['an integer past int64', 'm f=9223372036854775808i', 'f', /int64/],
    ['an unterminated string', 'm f="abc', 'f', /unterminated/],
    ['a bad timestamp', 'm f=1 12:00', 'timestamp', /invalid timestamp/],
    ['seconds sent as nanoseconds', `m f=1 ${T / 1000}`, 'timestamp', /wrong precision/],
    ['something after the timestamp', `m f=1 ${T}000000 extra`, undefined, /unexpected "extra"/],
    ['a time more than a day before arrival', `m f=1 ${T - 2 * 86_400_000}000000`, 'timestamp', /more than 1 day\(s\) before arrival/],
    ['a time more than a day after arrival', `m f=1 ${NOW + 86_400_001}000000`, 'timestamp', /more than 1 day\(s\) after arrival/],
    ['a measurement with a control character', 'm\u0001 f=1', 'measurement', /control characters/],
  ])('rejects %s, naming the line and the part', (_name, line, field, message) => {
    const [p] = problems(`ok f=1i\n${line}\nok f=2i`);
    expect(p!.line).toBe(2);
    expect(p!.field).toBe(field);
    expect(p!.message).toMatch(message);
  });

  it('is all or nothing and lists each bad line (up to 20)', () => {
    const lines = Array.from({ length: 40 }, (_, i) => (i % 2 ? `bad${i}` : `good f=${i}i`));
    const ps = problems(lines.join('\n'));
    expect(ps).toHaveLength(20);
    expect(ps.map((p) => p.line)).toEqual(Array.from({ length: 20 }, (_, i) => 2 * i + 2));
    try {
      parseLineProtocol('a f=1\nb', NOW);
    } catch (err) {
      expect((err as Error).message).toBe('line 2: field "fields": the field set is missing (at least one field=value after a space)');
    }
  });

  it('takes the clock-skew bound of ingest.maxClockSkew', () => {
    const hourAgo = `m f=1 ${NOW - 3_600_001}000000`;
    expect(parseLineProtocol(hourAgo, NOW)).toHaveLength(1);
    expect(() => parseLineProtocol(hourAgo, NOW, 'ns', { maxClockSkewMs: 3_600_000 })).toThrow(/line 1: field "timestamp": .* more than 1 hour\(s\) before arrival/);
  });

  it('rejects a body with no point, and a measurement longer than a stream may be', () => {
    expect(problems('# only a comment\n\n')[0]!.message).toMatch(/no points/);
    expect(problems(`${'m'.repeat(201)} f=1`)[0]!.field).toBe('measurement');
  });

  it('parses 10,000 lines quickly', () => {
    const body = Array.from({ length: 10_000 }, (_, i) => `card_auth,scheme=${i % 2 ? 'visa' : 'mastercard'},acquirer=acme amount=${i}i,currency="gbp" ${T + i}000000`).join('\n');
    const t0 = performance.now();
    const evs = parseLineProtocol(body, NOW);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(evs).toHaveLength(10_000);
    expect(evs[9_999]!.time).toBe(T + 9_999);
  });
});
