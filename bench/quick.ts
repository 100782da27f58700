/**
 * Quick learned-only run for experiments: `tsx bench/quick.ts [trace…]` — learned/nb without
 * probes, with probes and with the 2/day probe budget, as in bench/detection.ts, with each false
 * page's time and silence. `SEED=n` changes the spreading of count traces, `CAL=false` turns tail
 * calibration off.
 */
import { join } from 'node:path';
import type { CheckSpec } from '../src/checks/types.ts';
import { runBacktest } from '../src/backtest/run.ts';
import { loadTrace } from '../src/backtest/trace.ts';
import { parseLearnConfig } from '../src/learn/config.ts';
import { LearnedLimits } from '../src/learn/model.ts';
import { formatDuration } from '../src/lib/duration.ts';
import { CASES, LEARN, outagesOf } from './detection.ts';

const DIR = process.env.TRACES_DIR ?? join(import.meta.dirname, '..', '..', 'shared', 'traces');
const only = process.argv.slice(2);
const PROBE = { timeoutMs: 60_000, backoffFactor: 2, backoffMaxMs: 3_600_000 };
for (const c of CASES) {
  if (only.length && !only.some((o) => c.file.includes(o))) continue;
  const trace = loadTrace(join(DIR, c.file));
  const outages = outagesOf(c);
  for (const [name, extra, probe] of [['nb', {}, false], ['nb+probe', {}, true], ['nb+probe 2/day', { falseProbes: '2/day' }, true]] as const) {
    const limits = new LearnedLimits(parseLearnConfig({ ...LEARN, ...extra, tailCalibration: process.env.CAL !== 'false', holidays: c.holidays ?? [] }));
    const spec: CheckSpec = { name: 'x', stream: 'x', match: {}, labels: {}, quietAfterMs: 0, pageAfterMs: 0, limits, ...(probe ? { probe: PROBE } : {}) };
    const r = runBacktest({ spec, trace, outages, seed: Number(process.env.SEED ?? 1), probeLatencyMs: 10_000, keepReasons: false });
    const delays = r.outages.map((o) => (o.delayMs === null ? 'MISSED' : formatDuration(o.delayMs))).join(', ');
    const fp = r.pages.filter((p) => !p.true).map((p) => `${new Date(p.at).toISOString().slice(0, 16)}(${formatDuration(p.silenceMs)})`).join(' ');
    console.log(`${c.file.padEnd(22)} ${name.padEnd(15)} false=${r.falsePages} probes/day=${probe ? r.probes.perDay.toFixed(2) : '-'} delays=[${delays}] ${fp}`);
  }
}
