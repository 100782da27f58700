/**
 * Backtest speed (`npm run bench:backtest`): a year of busy traffic through the real engine.
 * msft-purchase-03 (52 days, 7.75 M events) is repeated back to back to 364 days (~54 M arrivals,
 * counts per hour spread as a seeded Poisson process) and replayed with fixed limits and with
 * learned nb limits learning online (with and without probes). Prints wall time, arrivals and
 * engine steps per run. A script, not a timed test: machines are noisy.
 */
import { join } from 'node:path';
import type { CheckSpec } from '../src/checks/types.ts';
import { runBacktest } from '../src/backtest/run.ts';
import { loadTrace, type Trace } from '../src/backtest/trace.ts';
import { parseLearnConfig } from '../src/learn/config.ts';
import { LearnedLimits } from '../src/learn/model.ts';
import { LEARN } from './detection.ts';

const DIR = process.env.TRACES_DIR ?? join(import.meta.dirname, '..', '..', 'shared', 'traces');
const base = loadTrace(join(DIR, 'msft-purchase-03.csv'));
if (base.kind !== 'counts') throw new Error('expected a counts trace');
const WEEK = 7 * 86_400_000;
const DAY = 86_400_000;
// Whole weeks of the trace (7 of its 7.4), back to back, keep the time of week and leave no gap.
const span = Math.floor((base.starts.length * base.bucketMs) / WEEK) * WEEK;
const perRep = Math.round(span / base.bucketMs);
const total = Math.round((364 * DAY) / base.bucketMs);
const starts = new Float64Array(total);
const counts = new Float64Array(total);
for (let k = 0; k < total; k++) {
  const i = k % perRep;
  starts[k] = base.starts[i]! + Math.floor(k / perRep) * span;
  counts[k] = base.counts[i]!;
}
const reps = total / perRep;
const year: Trace = { kind: 'counts', bucketMs: base.bucketMs, starts, counts };
const days = (starts.length * base.bucketMs) / DAY;

const spec = (limits?: LearnedLimits, probe = false): CheckSpec => ({
  name: 'x',
  stream: 'x',
  match: {},
  labels: {},
  quietAfterMs: 110_000,
  pageAfterMs: 110_000,
  ...(limits ? { limits } : {}),
  ...(probe ? { probe: { timeoutMs: 60_000, backoffFactor: 2, backoffMaxMs: 3_600_000 } } : {}),
});

console.log(`msft-purchase-03, its first ${span / WEEK} weeks repeated ${reps.toFixed(1)}x: ${days.toFixed(0)} days`);
for (const [name, s] of [
  ['fixed 1m50s', () => spec()],
  ['learned nb', () => spec(new LearnedLimits(parseLearnConfig(LEARN)))],
  ['learned nb + probe', () => spec(new LearnedLimits(parseLearnConfig(LEARN)), true)],
] as const) {
  const t0 = performance.now();
  const r = runBacktest({ spec: s(), trace: year, seed: 1, keepReasons: false });
  const wall = (performance.now() - t0) / 1000;
  console.log(
    `${name.padEnd(20)} ${wall.toFixed(1)} s  ${(r.arrivals / 1e6).toFixed(1)} M arrivals  ${(r.engineSteps / 1e6).toFixed(2)} M engine steps  pages ${r.pages.length}  probes/day ${r.probes.perDay.toFixed(2)}`,
  );
}
