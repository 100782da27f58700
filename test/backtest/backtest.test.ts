import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CheckSpec } from '../../src/checks/types.ts';
import { backtestCommand } from '../../src/backtest/cli.ts';
import { runBacktest, type BacktestReport } from '../../src/backtest/run.ts';
import { loadTrace, parseOutages, parseTime, parseTrace, prng, type Trace } from '../../src/backtest/trace.ts';
import { parseLearnConfig } from '../../src/learn/config.ts';
import { LearnedLimits } from '../../src/learn/model.ts';
import { tracePath } from '../helpers/traces.ts';

const S = 1000;
const H = 3600 * S;
const DAY = 24 * H;
const T0 = Date.UTC(2026, 0, 5);

const base = (over: Partial<CheckSpec> = {}): CheckSpec => ({ name: 'cards', stream: 'auth', match: {}, labels: {}, quietAfterMs: 30 * S, pageAfterMs: 60 * S, ...over });

/** One event a second from T0 for `days`, none inside [gapFrom, gapTo). */
function steady(days: number, gapFrom: number, gapTo: number): Trace {
  const times: number[] = [];
  for (let t = T0; t < T0 + days * DAY; t += S) if (t < gapFrom || t >= gapTo) times.push(t);
  return { kind: 'events', times: Float64Array.from(times) };
}

/** Poisson arrivals at `perSecond` for `days`, none inside [gapFrom, gapTo). */
function poissonTrace(days: number, perSecond: number, gapFrom: number, gapTo: number, seed = 5): Trace {
  const rnd = prng(seed);
  const times: number[] = [];
  for (let t = T0; t < T0 + days * DAY; ) {
    t += (-Math.log(1 - rnd()) / perSecond) * S;
    if (t < gapFrom || t >= gapTo) times.push(Math.floor(t));
  }
  return { kind: 'events', times: Float64Array.from(times) };
}

const strip = (r: BacktestReport) => ({ ...r, wallMs: 0 });

describe('backtest: fixed limits, known outage', () => {
  const outFrom = T0 + 2 * DAY + 12 * H;
  const outage = { start: outFrom, end: outFrom + 10 * 60 * S };
  const trace = steady(3, outage.start, outage.end);

  it('pages once, at pageAfter after the last event, and reports the detection delay', () => {
    const r = runBacktest({ spec: base(), trace, outages: [outage] });
    expect(r.falsePages).toBe(0);
    expect(r.truePages).toBe(1);
    // The last event is 1 s before the outage starts: page at last + 60 s.
    expect(r.outages[0]!.delayMs).toBe(59 * S);
    expect(r.pages[0]!.silenceMs).toBe(60 * S);
    expect(r.days).toBeCloseTo(3, 3);
  });

  it('with probes: the probe is lost inside the outage and pages at its timeout', () => {
    const spec = base({ quietAfterMs: 10 * S, pageAfterMs: 600 * S, probe: { timeoutMs: 30 * S, backoffFactor: 2, backoffMaxMs: H } });
    const r = runBacktest({ spec, trace, outages: [outage], probeLatencyMs: 5 * S });
    expect(r.falsePages).toBe(0);
    expect(r.outages[0]!.delayMs).toBe((10 + 30 - 1) * S);
    expect(r.probes).toMatchObject({ fired: 1, lost: 1, proven: 0 });
  });

  it('a latency spread (probeLatencySigma): transactions take different times, seeded; one slower than the wait comes out late and resolves', () => {
    const gapFrom = T0 + DAY;
    const t2 = steady(2, gapFrom, gapFrom + 3600 * S); // an hour of natural silence: many probes
    const spec = base({ quietAfterMs: 10 * S, pageAfterMs: 7200 * S, probe: { timeoutMs: 8 * S, backoffFactor: 1, backoffMaxMs: H } });
    const fixed = runBacktest({ spec, trace: t2, outages: [], probeLatencyMs: 5 * S, seed: 3 });
    expect(fixed.probes.lost).toBe(0); // 5 s, every time, within the 8-s wait
    const spread = runBacktest({ spec, trace: t2, outages: [], probeLatencyMs: 5 * S, probeLatencySigma: 0.5, seed: 3 });
    // log-normal around 5 s with sigma 0.5: about one in six takes more than 8 s (lost at the wait)...
    expect(spread.probes.fired).toBeGreaterThan(50);
    expect(spread.probes.lost).toBeGreaterThan(0);
    expect(spread.probes.lost).toBeLessThan(spread.probes.fired / 2);
    // ...and comes out later: each such false page is resolved by its own late transaction.
    expect(spread.falsePages).toBeGreaterThan(0);
    expect(spread.pages.every((p) => p.resolvedAt !== undefined && p.resolvedAt - p.at < 60 * S)).toBe(true);
    expect(runBacktest({ spec, trace: t2, outages: [], probeLatencyMs: 5 * S, probeLatencySigma: 0.5, seed: 3 }).probes).toEqual(spread.probes);
  });

  it('with probes: a natural silence is proven and does not page', () => {
    const gapFrom = T0 + DAY;
    const t2 = steady(2, gapFrom, gapFrom + 120 * S); // 2 min of nothing, no outage declared
    const spec = base({ quietAfterMs: 10 * S, pageAfterMs: 60 * S, probe: { timeoutMs: 30 * S, backoffFactor: 2, backoffMaxMs: H } });
    const r = runBacktest({ spec, trace: t2, outages: [], probeLatencyMs: 5 * S });
    expect(r.pages).toEqual([]);
    expect(r.probes.fired).toBeGreaterThanOrEqual(2);
    expect(r.probes.lost).toBe(0);
    // Without probes the same silence is a false page.
    expect(runBacktest({ spec: base(), trace: t2 }).falsePages).toBe(1);
  });

  it('skipping arrivals changes nothing: the same pages and probes as feeding every event', () => {
    const spec = base({ quietAfterMs: 6 * S, pageAfterMs: 20 * S, probe: { timeoutMs: 10 * S, backoffFactor: 2, backoffMaxMs: 60 * S } });
    const t3 = poissonTrace(1, 1, T0 + 12 * H, T0 + 12 * H + 300 * S);
    const fast = runBacktest({ spec, trace: t3, outages: [{ start: T0 + 12 * H, end: T0 + 12 * H + 300 * S }] });
    const slow = runBacktest({ spec, trace: t3, outages: [{ start: T0 + 12 * H, end: T0 + 12 * H + 300 * S }], feedAll: true });
    expect(fast.engineSteps).toBeLessThan(slow.engineSteps / 3);
    expect({ ...strip(fast), engineSteps: 0 }).toEqual({ ...strip(slow), engineSteps: 0 });
  });
});

describe('backtest: learned limits', () => {
  const outage = { start: T0 + 3 * DAY + 15 * H, end: T0 + 3 * DAY + 15 * H + 600 * S };
  const trace = poissonTrace(4, 2, outage.start, outage.end);
  const learned = () =>
    base({ limits: new LearnedLimits(parseLearnConfig({ min: '1s', max: '1h', model: 'nb' })), probe: undefined });

  it('learns online and detects the outage within the learned limit, without false pages', () => {
    const r = runBacktest({ spec: learned(), trace, outages: [outage] });
    expect(r.falsePages).toBe(0);
    expect(r.truePages).toBe(1);
    // At 2 events/s the page limit is a few x* / rate: ~10-15 s, far below any fixed limit.
    expect(r.outages[0]!.delayMs).toBeGreaterThan(3 * S);
    expect(r.outages[0]!.delayMs).toBeLessThan(30 * S);
    expect(r.outages[0]!.floorMs).toBeGreaterThan(5 * S);
    expect(r.outages[0]!.floorMs).toBeLessThan(15 * S);
  });

  it('skipping arrivals with learned limits changes nothing either', () => {
    const short = poissonTrace(2, 1, T0 + 36 * H, T0 + 36 * H + 120 * S, 9);
    const o = [{ start: T0 + 36 * H, end: T0 + 36 * H + 120 * S }];
    const fast = runBacktest({ spec: learned(), trace: short, outages: o });
    const slow = runBacktest({ spec: learned(), trace: short, outages: o, feedAll: true });
    expect({ ...strip(fast), engineSteps: 0 }).toEqual({ ...strip(slow), engineSteps: 0 });
    expect(fast.truePages).toBe(1);
  });

  it('is deterministic: the same seed gives the same report', () => {
    const counts: Trace = {
      kind: 'counts',
      bucketMs: H,
      starts: Float64Array.from({ length: 72 }, (_, i) => T0 + i * H),
      counts: Float64Array.from({ length: 72 }, (_, i) => (i === 60 ? 0 : 3000 + 1000 * Math.sin(i / 4))),
    };
    const o = [{ start: T0 + 60 * H, end: T0 + 61 * H }];
    const a = runBacktest({ spec: learned(), trace: counts, outages: o, seed: 42 });
    const b = runBacktest({ spec: learned(), trace: counts, outages: o, seed: 42 });
    expect(strip(a)).toEqual(strip(b));
    expect(a.truePages).toBeGreaterThan(0);
    const c = runBacktest({ spec: learned(), trace: counts, outages: o, seed: 43 });
    expect(c.arrivals).toBe(a.arrivals);
  });
});

describe('backtest: the real shared trace nab-twitter-AAPL', () => {
  it('detects both README outages with no false page (learned nb limits with probes, learning online)', () => {
    const trace = loadTrace(tracePath('nab-twitter-AAPL.csv'));
    const outages = parseOutages('2015-03-11 07:02:53,2015-03-11 09:12:53\n2015-03-12 05:27:53,2015-03-12 05:42:53\n2015-03-12 09:22:53,2015-03-12 09:32:53');
    for (const probe of [undefined, { timeoutMs: 60 * S, backoffFactor: 2, backoffMaxMs: H }]) {
      const spec = base({ limits: new LearnedLimits(parseLearnConfig({ min: '2s', max: '12h' })), probe });
      const r = runBacktest({ spec, trace, outages, seed: 1, probeLatencyMs: 10 * S });
      expect(r.falsePages).toBe(0);
      expect(r.outages[0]!.delayMs).not.toBeNull();
      expect(r.outages[1]!.delayMs).not.toBeNull();
      expect(r.outages[1]!.delayMs!).toBeLessThan(10 * 60 * S);
    }
  }, 60_000);
});

describe('trace and outage loaders', () => {
  it('reads events: epoch ms or RFC 3339, one per line, sorted', () => {
    const t = parseTrace('1767571200500\n2026-01-05T00:00:00Z\n2026-01-05T00:00:01.250+00:00\n');
    expect(t.kind).toBe('events');
    expect(Array.from((t as { times: Float64Array }).times)).toEqual([T0, T0 + 500, T0 + 1250]);
  });

  it('reads a CSV with a timestamp column as events, and with a count column as buckets', () => {
    const ev = parseTrace('id,timestamp,amount\n1,2026-01-05 00:00:02,5\n2,2026-01-05 00:00:01,7\n');
    expect(ev.kind).toBe('events');
    expect(Array.from((ev as { times: Float64Array }).times)).toEqual([T0 + 1000, T0 + 2000]);
    const c = parseTrace('timestamp,value\n2015-02-26 21:42:53,104\n2015-02-26 21:47:53,100\n2015-02-26 21:52:53,0\n');
    expect(c).toMatchObject({ kind: 'counts', bucketMs: 300 * S });
    expect(Array.from((c as { counts: Float64Array }).counts)).toEqual([104, 100, 0]);
    expect((c as { starts: Float64Array }).starts[0]).toBe(parseTime('2015-02-26T21:42:53Z'));
  });

  it('reads outages from JSON or CSV', () => {
    expect(parseOutages('[["2026-01-05T00:00:00Z", "2026-01-05T01:00:00Z"], {"start": 5, "end": 9}]')).toEqual([
      { start: 5, end: 9 },
      { start: T0, end: T0 + H },
    ]);
    expect(parseOutages('start,end\n2026-01-05 00:00:00,2026-01-05 01:00:00\n')).toEqual([{ start: T0, end: T0 + H }]);
    expect(() => parseOutages('[[10, 5]]')).toThrow(/bad outage/);
  });
});

describe('backtest command', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qw-bt-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('replays a trace for each check of a YAML config and prints a report', async () => {
    const trace = join(dir, 'trace.txt');
    const lines: string[] = [];
    for (let t = T0; t < T0 + 2 * H; t += S) if (t < T0 + H || t >= T0 + H + 600 * S) lines.push(new Date(t).toISOString());
    writeFileSync(trace, lines.join('\n'));
    writeFileSync(join(dir, 'outages.csv'), `${new Date(T0 + H).toISOString()},${new Date(T0 + H + 600 * S).toISOString()}\n`);
    writeFileSync(
      join(dir, 'qw.yaml'),
      'probes: { drivers: { acquirer: { type: sandbox } } }\nchecks:\n  - name: cards\n    stream: auth\n    quietAfter: 30s\n    pageAfter: 2m\n    probe: { driver: acquirer, timeout: 45s }\n  - name: other\n    stream: x\n    quietAfter: 1m\n    pageAfter: 5m\n',
    );
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s) };
    const code = await backtestCommand(['--config', join(dir, 'qw.yaml'), '--trace', trace, '--outages', join(dir, 'outages.csv'), '--check', 'cards'], io);
    expect(err).toEqual([]);
    expect(code).toBe(0);
    const text = out.join('\n');
    expect(text).toMatch(/check cards \(fixed limits: quiet after 30s, page after 2m, with probes\)/);
    expect(text).toMatch(/pages: 1 \(1 true, 0 false\)/);
    expect(text).toMatch(/#1 .* detected after 1m14s/);
    expect(text).not.toMatch(/check other/);
  });

  it('reads a config the service loader accepts, with learned limits', async () => {
    writeFileSync(join(dir, 'real.yaml'), 'checks:\n  - name: learned\n    stream: auth\n    quietAfter: auto\n    pageAfter: auto\n    learn: { min: 2s, max: 1h }\n');
    const out: string[] = [];
    const io = { out: (s: string) => out.push(s), err: (s: string) => out.push(s) };
    const code = await backtestCommand(['--config', join(dir, 'real.yaml'), '--trace', join(dir, 'trace.txt'), '--outages', join(dir, 'outages.csv')], io);
    expect(out.join('\n')).toMatch(/check learned \(learned limits\)/);
    // Two hours of history is less than the 1-day warm-up: the bounds (max 1h) apply, the
    // 10-minute outage is missed, and the exit code says so.
    expect(out.join('\n')).toMatch(/pages: 0 /);
    expect(out.join('\n')).toMatch(/#1 .* NOT DETECTED/);
    expect(code).toBe(1);
  });

  it('--probe-latency-sigma must be a number from 0 to 2', async () => {
    const err: string[] = [];
    const io = { out: () => {}, err: (s: string) => err.push(s) };
    expect(await backtestCommand(['--config', join(dir, 'qw.yaml'), '--trace', join(dir, 'trace.txt'), '--probe-latency-sigma', 'wide'], io)).toBe(2);
    expect(err.join('\n')).toMatch(/--probe-latency-sigma must be a number from 0 to 2/);
  });

  it('fails with a clear message on a bad config or missing options', async () => {
    writeFileSync(join(dir, 'bad.yaml'), 'checks:\n  - name: cards\n    stream: auth\n    quietAfter: 1m\n    pageAfter: soon\n  - name: auto\n    stream: auth\n    quietAfter: auto\n    pageAfter: 5m\n');
    const err: string[] = [];
    const io = { out: () => {}, err: (s: string) => err.push(s) };
    expect(await backtestCommand(['--config', join(dir, 'bad.yaml'), '--trace', join(dir, 'trace.txt')], io)).toBe(2);
    // The service's config loader reports the problems, with their paths.
    expect(err.join('\n')).toMatch(/checks\[0\]\.pageAfter/);
    expect(err.join('\n')).toMatch(/checks\[1\]\.learn/);
    expect(await backtestCommand(['--trace', 'x'], io)).toBe(2);
  });
});
