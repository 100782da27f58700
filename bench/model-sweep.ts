/**
 * Which silence model gives fewer false alarms at equal detection? (`tsx bench/model-sweep.ts`)
 * For each model, sweep the tolerated false-page rate and print false pages against the detection
 * delay of the README outages, learned online, without probes. Compare rows of similar delay.
 * `MODELS=nb` runs only the listed models.
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
const RATES = ['1/day', '1/week', '1/month', '1/year', '1/decade'];

console.log('| trace | model | falsePages | false pages | delays (README outages) |');
console.log('|---|---|---|---|---|');
for (const c of CASES) {
  const trace = loadTrace(join(DIR, c.file));
  const outages = outagesOf(c);
  const readme = c.outages.map((o, i) => (o.note.startsWith('README') ? i : -1)).filter((i) => i >= 0);
  for (const model of (process.env.MODELS?.split(',') ?? ['poisson', 'gap', 'nb']) as Array<'poisson' | 'gap' | 'nb'>) {
    for (const rate of RATES) {
      const falsePages = rate === '1/decade' ? '0.1/year' : rate;
      const limits = new LearnedLimits(parseLearnConfig({ ...LEARN, model, falsePages, falseProbes: '1/day', holidays: c.holidays ?? [] }));
      const spec: CheckSpec = { name: 'x', stream: 'x', match: {}, labels: {}, quietAfterMs: 0, pageAfterMs: 0, limits };
      const r = runBacktest({ spec, trace, outages, seed: 1, keepReasons: false });
      const delays = readme.map((i) => (r.outages[i]!.delayMs === null ? 'missed' : formatDuration(r.outages[i]!.delayMs!))).join(', ');
      console.log(`| ${c.file} | ${model} | ${falsePages} | ${r.falsePages} | ${delays} |`);
    }
  }
}
