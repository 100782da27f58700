/**
 * The backtest must not lie about its input: every problem found replaying real exports either
 * stops it with an error naming the line, or is reported in the one-line input summary and
 * replayed honestly (a gap in the data is not judged as silence).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backtestCommand, parseSeeds } from '../../src/backtest/cli.ts';
import { hindsightFixedLimit, naturalGaps, TopK } from '../../src/backtest/baseline.ts';
import { runBacktest } from '../../src/backtest/run.ts';
import { parseTrace, prng } from '../../src/backtest/trace.ts';
import { specFor } from '../../src/checks/spec.ts';
import { parseConfig } from '../../src/config/load.ts';
import { poissonCount } from '../helpers/random.ts';

const S = 1000;
const MIN = 60 * S;
const T0 = Date.UTC(2026, 0, 5);
const iso = (t: number) => new Date(t).toISOString();

/** Per-minute counts (Poisson, mean `m`) for `minutes`, as CSV with the given header. */
function csv(header: string, minutes: number, m: number, edit: (i: number, line: string) => string | null = (_, l) => l, seed = 3): string {
  const rnd = prng(seed);
  const lines = [header];
  for (let i = 0; i < minutes; i++) {
    const l = edit(i, `${iso(T0 + i * MIN)},${poissonCount(m, rnd)}`);
    if (l !== null) lines.push(l);
  }
  return lines.join('\n') + '\n';
}

describe('backtest input honesty', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qw-bt-in-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'qw.yaml'), 'checks:\n  - name: cards\n    stream: auth\n    quietAfter: 2m\n    pageAfter: 5m\n');
  const run = async (...args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await backtestCommand(['--config', join(dir, 'qw.yaml'), ...args], { out: (s) => out.push(s), err: (s) => err.push(s) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  it('a non-numeric count is an error naming its line, not the end of the replay', async () => {
    writeFileSync(join(dir, 'null.csv'), csv('timestamp,value', 3 * 1440, 10, (i, l) => (i === 1000 ? `${iso(T0 + i * MIN)},null` : l)));
    const r = await run('--trace', join(dir, 'null.csv'));
    expect(r.code).toBe(2);
    // Line 1 is the header: minute 1000 is line 1002.
    expect(r.err).toMatch(/trace line 1002: count "null" in column value is not a number/);
    expect(() => parseTrace('timestamp,value\n2026-01-05T00:00:00Z,\n')).toThrow(/trace line 2: count "" in column value is not a number/);
  });

  it('a count column with another name is refused until named, then read as counts', async () => {
    writeFileSync(join(dir, 'requests.csv'), csv('time,requests', 2 * 1440, 60));
    const refused = await run('--trace', join(dir, 'requests.csv'));
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/column requests holds numbers .* pass --count-column requests/);
    const ok = await run('--trace', join(dir, 'requests.csv'), '--count-column', 'requests', '--no-baseline');
    expect(ok.err).toBe('');
    // ~172,800 events (60 a minute for two days), not 2,880 rows read as one event each.
    const m = /input: counts per 1m \(inferred\) from column requests, 2,880 rows, ([\d,]+) events, 2\.0 days/.exec(ok.out);
    expect(m).not.toBeNull();
    expect(Number(m![1]!.replace(/,/g, ''))).toBeGreaterThan(170_000);
    expect(ok.out).toMatch(/pages: 0 \(0 true, 0 false\)/);
    expect((await run('--trace', join(dir, 'requests.csv'), '--count-column', 'nope')).err).toMatch(/no column named nope \(columns: time, requests\)/);
  });

  it('duplicated and missing buckets are reported, and a missing hour is not judged as silence', async () => {
    // Two days; the hour from minute 1500 is missing (a DST hour the export skipped); minute 200 twice.
    const text = csv('timestamp,value', 2 * 1440, 10, (i, l) => (i >= 1500 && i < 1560 ? null : i === 200 ? `${l}\n${iso(T0 + i * MIN)},4` : l));
    writeFileSync(join(dir, 'holes.csv'), text);
    const r = await run('--trace', join(dir, 'holes.csv'));
    expect(r.out).toMatch(/1 duplicate timestamps \(summed\)/);
    expect(r.out).toMatch(new RegExp(`60 missing buckets in 1 gaps \\(not judged: ${iso(T0 + 1500 * MIN).replace(':00.000Z', 'Z')}\\)`));
    // pageAfter 5m, and an hour without data: no page.
    expect(r.out).toMatch(/pages: 0 \(0 true, 0 false\)/);
    expect(r.out).toMatch(/trace gaps not judged \(no data\): 1/);
    expect(r.code).toBe(0);
    // The same hour as zeros is a real silence: it pages.
    const zeros = csv('timestamp,value', 2 * 1440, 10, (i, l) => (i >= 1500 && i < 1560 ? `${iso(T0 + i * MIN)},0` : l));
    const t = parseTrace(zeros);
    const rz = runBacktest({ spec: { name: 'c', stream: 'c', match: {}, labels: {}, quietAfterMs: 2 * MIN, pageAfterMs: 5 * MIN }, trace: t });
    expect(rz.falsePages).toBe(1);
  });

  it('a gap in the data is not judged by learned limits or rate-drop either (the model skips it, the windows restart)', () => {
    // Four days of 20 a minute; six hours missing on day 3; learned limits with rate-drop.
    const text = csv('timestamp,value', 4 * 1440, 20, (i, l) => (i >= 3 * 1440 + 600 && i < 3 * 1440 + 960 ? null : l));
    const trace = parseTrace(text);
    expect(trace.kind === 'counts' && trace.gaps).toEqual([{ start: T0 + (3 * 1440 + 600) * MIN, end: T0 + (3 * 1440 + 960) * MIN }]);
    const spec = specFor(
      parseConfig(`checks:\n  - name: c\n    quietAfter: auto\n    pageAfter: auto\n    learn: { min: 2s, max: 1h, rateDrop: { window: 5m, minDrop: 0.8 } }\n`, 'x.yaml').checks[0]!,
    );
    const r = runBacktest({ spec, trace, keepReasons: true });
    expect(r.gapsSkipped).toBe(1);
    expect(r.pages).toEqual([]);
    expect(r.rateDrop!.drops).toBe(0);
    // Windows are judged once their hour is known (after the first day), except inside the gap:
    // three days of 5-minute windows (864) less the gap's 72 and the one cut by it.
    expect(r.rateDrop!.windows).toBeGreaterThan(864 - 72 - 20);
    expect(r.rateDrop!.windows).toBeLessThanOrEqual(864 - 72);
    // The same six hours as zeros: a silence (and rate-drop windows) that page.
    const zeros = parseTrace(csv('timestamp,value', 4 * 1440, 20, (i, l) => (i >= 3 * 1440 + 600 && i < 3 * 1440 + 960 ? `${iso(T0 + i * MIN)},0` : l)));
    const spec2 = specFor(parseConfig(`checks:\n  - name: c\n    quietAfter: auto\n    pageAfter: auto\n    learn: { min: 2s, max: 1h, rateDrop: { window: 5m, minDrop: 0.8 } }\n`, 'x.yaml').checks[0]!);
    const rz = runBacktest({ spec: spec2, trace: zeros });
    expect(rz.falsePages).toBeGreaterThanOrEqual(1);
    expect(rz.rateDrop!.drops).toBeGreaterThan(0);
  });

  it('--seeds 1-5 replays every spreading and sums the false pages; the fixed baseline is in the report', async () => {
    // One event a minute on average: silences past 5 minutes happen, differently per seed.
    writeFileSync(join(dir, 'sparse.csv'), csv('timestamp,value', 1440, 1));
    const r = await run('--trace', join(dir, 'sparse.csv'), '--seeds', '1-5');
    const per = [...r.out.matchAll(/seed (\d): \d+ pages \(\d+ true, (\d+) false\)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(per.map((p) => p[0])).toEqual([1, 2, 3, 4, 5]);
    const sum = per.reduce((a, p) => a + p[1]!, 0);
    expect(sum).toBeGreaterThan(0);
    expect(r.out).toMatch(new RegExp(`over 5 seeds: ${sum} false pages, 0 outages missed; fixed baseline 0 false, 0 missed`));
    expect(r.code).toBe(1);
    const json = JSON.parse((await run('--trace', join(dir, 'sparse.csv'), '--seeds', '1,2', '--json')).out) as Array<{ seed: number; baseline: { falsePages: number; pageAfterMs: number } }>;
    expect(json.map((x) => x.seed)).toEqual([1, 2]);
    expect(json.every((x) => x.baseline.falsePages === 0)).toBe(true);
    expect(parseSeeds('1-5')).toEqual([1, 2, 3, 4, 5]);
    expect(parseSeeds('2,7-8')).toEqual([2, 7, 8]);
    expect(parseSeeds('x')).toBeUndefined();
  });

  it('the hindsight baseline streams the arrivals: the largest natural silence, outages and data gaps left out', () => {
    const times = Float64Array.from([0, 10, 15, 100, 104, 300, 301].map((x) => T0 + x * S));
    const trace = { kind: 'events' as const, times };
    expect(naturalGaps(trace, 1, [], 3).largest).toEqual([196 * S, 85 * S, 10 * S]);
    // The 196 s silence touches an outage: the baseline is one past the next longest.
    expect(hindsightFixedLimit(trace, 1, [{ start: T0 + 200 * S, end: T0 + 250 * S }])).toBe(85 * S + 1);
    const top = new TopK(2);
    for (const v of [5, 1, 9, 3, 7]) top.push(v);
    expect(top.values()).toEqual([9, 7]);
  });
});
