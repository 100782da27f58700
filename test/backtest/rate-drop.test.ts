/**
 * `quietwatch backtest` replays rate-drop checks exactly as the service runs them (the same
 * RateWindows, judged at each window's close, verdicts given to the engine as `rate` inputs).
 * The scenario and figures are the service's own e2e test (test/e2e/rate-drop-service.test.ts):
 * 2 events a second (an event every 500 ms), 20 s windows, minDrop 0.7, falseAlarms 1/year; then
 * 80% of the traffic goes (an event every 2.5 s: no silence limit fires) and rate-drop pages; the
 * traffic comes back and a normal window resolves it. Here the three days of history are not
 * seeded but learned online from the replayed trace, as every backtest learns.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backtestCommand } from '../../src/backtest/cli.ts';
import { runBacktest, type BacktestReport } from '../../src/backtest/run.ts';
import { specFor } from '../../src/checks/spec.ts';
import { parseConfig } from '../../src/config/load.ts';

const S = 1000;
const DAY = 86_400 * S;
const T0 = Date.UTC(2026, 0, 5);
const LEARN = { min: '2s', max: '10m', warmup: '1h', rateDrop: { window: '20s', minDrop: 0.7, falseAlarms: '1/year' } };
const CONFIG = `checks:\n  - name: auth\n    quietAfter: auto\n    pageAfter: auto\n    learn: ${JSON.stringify(LEARN)}\n`;

/** Three days at one event every 500 ms; then `dropMs` at one every 2.5 s; then 500 ms again for `afterMs`. */
function scenario(dropMs: number, afterMs = 120 * S): { times: number[]; drop: { start: number; end: number } } {
  const times: number[] = [];
  const dropAt = T0 + 3 * DAY + 50 * S + 7 * S; // not on a window boundary
  let t = T0;
  for (; t < dropAt; t += 500) times.push(t);
  for (; t < dropAt + dropMs; t += 2500) times.push(t);
  const back = t;
  for (; t < back + afterMs; t += 500) times.push(t);
  return { times, drop: { start: dropAt, end: dropAt + dropMs } };
}

describe('backtest: rate-drop checks are replayed as the service runs them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qw-bt-rd-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('quietwatch backtest pages a partial outage at the end of a window and resolves on a normal one', async () => {
    const { times, drop } = scenario(120 * S);
    writeFileSync(join(dir, 'trace.txt'), times.join('\n'));
    writeFileSync(join(dir, 'outages.csv'), `${drop.start},${drop.end}\n`);
    writeFileSync(join(dir, 'qw.yaml'), CONFIG);
    const out: string[] = [];
    const err: string[] = [];
    const code = await backtestCommand(
      ['--config', join(dir, 'qw.yaml'), '--trace', join(dir, 'trace.txt'), '--outages', join(dir, 'outages.csv'), '--json', '--no-baseline'],
      { out: (s) => out.push(s), err: (s) => err.push(s) },
    );
    expect(err).toEqual([]);
    const r = JSON.parse(out.join('\n')) as BacktestReport;
    expect(code).toBe(0);
    // One page, by rate-drop, for the outage; nothing in three days of normal traffic.
    expect(r.falsePages).toBe(0);
    expect(r.pages).toHaveLength(1);
    const page = r.pages[0]!;
    expect(page).toMatchObject({ cause: 'rate-drop', true: true, outage: 0 });
    // The e2e's figures: 20 s windows at 2 a second are 40 events; one every 2.5 s is 8, 80% below.
    expect(page.reason).toMatch(/^8 events, 80% below normal for this window: 40\.0 events/);
    // Paged at the close of the first whole window inside the drop (the drop began 7 s into one).
    const firstWholeEnd = Math.ceil(drop.start / (20 * S)) * 20 * S + 20 * S;
    expect(page.at).toBe(firstWholeEnd);
    expect(r.outages[0]).toMatchObject({ delayMs: firstWholeEnd - drop.start, incidents: 1 });
    // Resolved at the close of the window in which the traffic came back: 7 trickle events and 6 at
    // the normal rate, 13 of 40 (68% below) is under minDrop 0.7, a normal window.
    expect(page.resolvedAt).toBe(Math.ceil(drop.end / (20 * S)) * 20 * S);
    expect(r.rateDrop!.drops).toBeGreaterThanOrEqual(1);
    expect(r.rateDrop!.dropsOutsideOutages).toBe(0);
    // Windows get a verdict once their hour has been learned: every window after the first day.
    expect(r.rateDrop!.windows).toBeGreaterThanOrEqual((2 * DAY) / (20 * S));
    expect(r.rateDrop!.windows).toBeLessThan((3 * DAY) / (20 * S));
  }, 120_000);

  it('the text report names the rate-drop page and the windows judged', async () => {
    const out: string[] = [];
    const code = await backtestCommand(['--config', join(dir, 'qw.yaml'), '--trace', join(dir, 'trace.txt'), '--outages', join(dir, 'outages.csv')], {
      out: (s) => out.push(s),
      err: (s) => out.push(s),
    });
    const text = out.join('\n');
    expect(code).toBe(0);
    expect(text).toMatch(/check auth \(learned limits, rate-drop\)/);
    expect(text).toMatch(/pages: 1 \(1 true, 0 false\)/);
    expect(text).toMatch(/true \(outage #1\)\s+rate-drop\s+8 events, 80% below/);
    expect(text).toMatch(/rate-drop windows: [\d,]+ judged, \d+ drops \(0 outside outages\)/);
    expect(text).toMatch(/#1 .* detected after \d+s, 1 incident/);
  }, 120_000);

  it('without rateDrop in the config, the same trace pages nothing (no silence limit fires)', () => {
    const { times, drop } = scenario(120 * S);
    const noRd = { ...LEARN } as Record<string, unknown>;
    delete noRd.rateDrop;
    const spec = specFor(parseConfig(`checks:\n  - name: auth\n    quietAfter: auto\n    pageAfter: auto\n    learn: ${JSON.stringify(noRd)}\n`, 'x.yaml').checks[0]!);
    const r = runBacktest({ spec, trace: { kind: 'events', times: Float64Array.from(times) }, outages: [drop] });
    expect(r.rateDrop).toBeNull();
    expect(r.pages).toEqual([]);
    expect(r.outages[0]!.delayMs).toBeNull();
  }, 120_000);
});
