/**
 * The detection benchmark (`npm run bench:detection`, i.e. `tsx bench/detection.ts [trace…]`).
 *
 * On each trace of ../shared/traces/ it compares, without and with probes:
 * - fixed: the smallest fixed pageAfter with no false page on the trace (what a peer is tuned to);
 *   with probes, quietAfter is the smallest fixed value whose false probes stay within the same
 *   tolerated rate as quietwatch's (falseProbes), the probe deciding after its timeout;
 * - prometheus: `time() - last_event > X` scraped and evaluated every 15 s, X tuned the same way;
 * - learned (nb, the default; poisson and gap for the model comparison): quietwatch's learned
 *   limits, learning online while the trace replays (never fitted on the future or the outage).
 * Columns: false pages, probes per day, detection delay of each outage, and the theoretical floor
 * (at the learned rate just before the outage, the silence after which the tolerated false-page
 * rate is met under a Poisson model).
 *
 * Fixed and learned rows run through the real engine (src/backtest/run.ts); the Prometheus rule is
 * not quietwatch's engine, so it is simulated directly from the same arrivals.
 */
import { join } from 'node:path';
import type { CheckSpec } from '../src/checks/types.ts';
import { runBacktest, type BacktestReport } from '../src/backtest/run.ts';
import { cursor, loadTrace, parseTime, traceSpan, type Outage, type Trace } from '../src/backtest/trace.ts';
import { parseLearnConfig, parseRate, type LearnConfigInput } from '../src/learn/config.ts';
import { evaluateRateDrop } from '../src/learn/rate-drop.ts';
import { LearnedLimits } from '../src/learn/model.ts';
import { formatDuration } from '../src/lib/duration.ts';

const DIR = process.env.TRACES_DIR ?? join(import.meta.dirname, '..', '..', 'shared', 'traces');
const SEED = 1;
/** Spreading seeds for the robustness line (no false page with every one of them). */
const ROBUST_SEEDS = (process.env.BENCH_SEEDS ?? '2,3,4,5').split(',').filter(Boolean).map(Number);
const DAY = 86_400_000;
const SCRAPE_MS = 15_000;
const PROBE = { timeoutMs: 60_000, backoffFactor: 2, backoffMaxMs: 3_600_000 };
const PROBE_LATENCY_MS = 10_000;
/** 2% of the charges a probe every minute would cost. */
const PROBE_BUDGET_PER_DAY = 0.02 * 1440;
/** The second probe budget compared (falseProbes). */
const PROBE_BUDGET_2 = '2/day';

export const LEARN: LearnConfigInput = { min: '2s', max: '12h', falseProbes: '1/week', falsePages: '1/year' };

interface TraceCase {
  file: string;
  busy: boolean;
  /** Public holidays of the source (learned and judged as Sundays). */
  holidays?: string[];
  outages: Array<{ start: string; end: string; note: string }>;
}

const NAB_OUTAGES = [
  { start: '2015-03-11 07:02:53', end: '2015-03-11 09:12:53', note: 'README: 26 empty buckets' },
  { start: '2015-03-12 05:27:53', end: '2015-03-12 05:42:53', note: 'README: partial, 0 0 1' },
  // Not in the README: 0 then 2 (AAPL) / 0 then 1 (KO) where ~20 / ~6 are normal, in both tickers
  // at the same instant, like the README's second outage. Listed so that paging on it is scored
  // as true; the docs give the figures with the README's list only as well.
  { start: '2015-03-12 09:22:53', end: '2015-03-12 09:32:53', note: 'unlisted: 0 2 in AAPL, 0 1 in KO' },
];
const MSFT_OUTAGES = [{ start: '2018-05-03T20:00:00Z', end: '2018-05-03T21:00:00Z', note: 'README: the empty hour' }];

export const CASES: TraceCase[] = [
  { file: 'msft-purchase-03.csv', busy: true, outages: MSFT_OUTAGES },
  { file: 'msft-purchase-05.csv', busy: false, outages: MSFT_OUTAGES },
  // Stock tweets follow the market: 2015-04-03 was Good Friday, NYSE closed.
  { file: 'nab-twitter-AAPL.csv', busy: true, outages: NAB_OUTAGES, holidays: ['2015-04-03'] },
  { file: 'nab-twitter-KO.csv', busy: false, outages: NAB_OUTAGES, holidays: ['2015-04-03'] },
];

export function outagesOf(c: TraceCase): Outage[] {
  return c.outages.map((o) => ({ start: parseTime(o.start)!, end: parseTime(o.end)! }));
}

/** The replayed arrivals (same seed as the backtests) as one array, for tuning the peers. */
function arrivals(trace: Trace): Float64Array {
  const out: number[] = [];
  const cur = cursor(trace, SEED);
  for (let t = cur.next(); !Number.isNaN(t); t = cur.next()) out.push(t);
  return Float64Array.from(out);
}

function overlaps(outages: Outage[], from: number, to: number): boolean {
  return outages.some((o) => from < o.end && to >= o.start);
}

/** Silences (start, end) between consecutive arrivals that do not touch an outage (incl. the start of the trace). */
function naturalGaps(times: Float64Array, from: number, outages: Outage[]): Array<[number, number]> {
  const gaps: Array<[number, number]> = [];
  let prev = from;
  for (let i = 0; i < times.length; i++) {
    const t = times[i]!;
    if (!overlaps(outages, prev, t)) gaps.push([prev, t]);
    prev = t;
  }
  return gaps;
}

/** The smallest limit with at most `allowed` natural silences longer than it (a search over the gaps). */
function tuneLimit(lengths: number[], allowed: number): number {
  const sorted = [...lengths].sort((a, b) => b - a);
  const k = Math.floor(allowed);
  return (sorted[k] ?? 0) + 1;
}

const spec = (name: string, quiet: number, page: number, probe: boolean, limits?: LearnedLimits): CheckSpec => ({
  name,
  stream: name,
  match: {},
  quietAfterMs: quiet,
  pageAfterMs: page,
  labels: {},
  ...(limits ? { limits } : {}),
  ...(probe ? { probe: PROBE } : {}),
});

interface Row {
  method: string;
  limits: string;
  falsePages: number;
  probesPerDay: number | null;
  delays: Array<number | null>;
  wallMs?: number;
}

function fromReport(method: string, limits: string, r: BacktestReport, probe: boolean): Row {
  return {
    method,
    limits,
    falsePages: r.falsePages,
    probesPerDay: probe ? r.probes.perDay : null,
    delays: r.outages.map((o) => o.delayMs),
    wallMs: r.wallMs,
  };
}

/** Prometheus: `time() - last_event > X`, scraped and evaluated every 15 s (aligned grid). */
function prometheus(times: Float64Array, from: number, to: number, outages: Outage[], xPage: number, xQuiet: number | null): Row {
  const grid = (t: number) => Math.ceil(t / SCRAPE_MS) * SCRAPE_MS;
  // First evaluation instant s > e with s - e > X and s < next arrival (else null).
  const fireAt = (e: number, next: number, x: number): number | null => {
    let s = grid(e + x);
    if (s - e <= x) s += SCRAPE_MS;
    return s < next ? s : null;
  };
  let falsePages = 0;
  let probes = 0;
  const delays: Array<number | null> = outages.map(() => null);
  let prev = from;
  const visit = (e: number, next: number) => {
    const touching = outages.findIndex((o) => e < o.end && next >= o.start);
    if (xQuiet === null) {
      const s = fireAt(e, next, xPage);
      if (s === null) return;
      if (touching < 0) falsePages++;
      else if (delays[touching] === null) delays[touching] = Math.max(0, s - outages[touching]!.start);
      return;
    }
    // With probes: the alert fires a probe; proven after the latency outside outages (the rule then
    // waits for the silence to pass X again), lost inside them (page at the probe's timeout).
    let start = e;
    for (let guard = 0; guard < 10_000; guard++) {
      const s = fireAt(start, next, xQuiet);
      if (s === null) return;
      probes++;
      const o = outages.findIndex((w) => s + PROBE_LATENCY_MS >= w.start && s + PROBE_LATENCY_MS < w.end);
      if (o >= 0 || touching >= 0) {
        const idx = o >= 0 ? o : touching;
        if (o < 0) {
          start = s + PROBE_LATENCY_MS; // proven before the outage began
          continue;
        }
        if (delays[idx] === null) delays[idx] = Math.max(0, s + PROBE.timeoutMs - outages[idx]!.start);
        return;
      }
      start = s + PROBE_LATENCY_MS;
    }
  };
  for (let i = 0; i < times.length; i++) {
    visit(prev, times[i]!);
    prev = times[i]!;
  }
  visit(prev, to);
  const days = (to - from) / DAY;
  return {
    method: xQuiet === null ? 'prometheus' : 'prometheus+probe',
    limits: xQuiet === null ? `X=${formatDuration(xPage)}` : `X=${formatDuration(xQuiet)} then probe`,
    falsePages,
    probesPerDay: xQuiet === null ? null : probes / days,
    delays,
  };
}

/**
 * Rate-drop on 5-minute windows (80% below normal and p below 1/year per window), learned online
 * like the limits: which windows it flags inside outages (incl. the hour after, where traffic is
 * back at a fraction) and outside them.
 */
function rateDrop(trace: Trace, outages: Outage[], holidays: string[]): { inside: number; outside: number; outsideAt: string[]; perOutage: boolean[] } {
  const W = 300_000;
  const l = new LearnedLimits(parseLearnConfig({ ...LEARN, holidays }));
  const opts = { minDrop: 0.8, falseAlarmsPerMs: parseRate('1/year')! };
  const c = cursor(trace, SEED);
  let t = c.next();
  let ws = Math.floor(t / W) * W;
  let n = 0;
  let inside = 0;
  const outsideAt: string[] = [];
  const perOutage = outages.map(() => false);
  const close = () => {
    const r = evaluateRateDrop(l.model, ws, ws + W, n, opts);
    if (r.verdict === 'drop') {
      const o = outages.findIndex((x) => ws < x.end && ws + W > x.start);
      if (o >= 0) {
        inside++;
        perOutage[o] = true;
      } else outsideAt.push(new Date(ws).toISOString().slice(0, 16));
    }
    ws += W;
    n = 0;
  };
  for (; !Number.isNaN(t); t = c.next()) {
    while (t >= ws + W) close();
    l.observe(t);
    n++;
  }
  close();
  return { inside, outside: outsideAt.length, outsideAt, perOutage };
}

export interface TraceResult {
  file: string;
  rateDrop: ReturnType<typeof rateDrop>;
  rows: Row[];
  floors: Array<number | null>;
  /** Quiet floor at the whole 2% probe budget, plus the probe's latency: no silence detector with probes can page sooner. */
  probeFloors: Array<number | null>;
  /** learned/nb and learned/nb+probe false pages with each of ROBUST_SEEDS. */
  seeds: Array<{ seed: number; nb: number; nbProbe: number }>;
  outages: TraceCase['outages'];
  busy: boolean;
  days: number;
  arrivals: number;
}

export function benchTrace(c: TraceCase, models: Array<'nb' | 'poisson' | 'gap'> = ['nb', 'poisson', 'gap']): TraceResult {
  const trace = loadTrace(join(DIR, c.file));
  const outages = outagesOf(c);
  const { from, to } = traceSpan(trace);
  const days = (to - from) / DAY;
  const times = arrivals(trace);
  const gaps = naturalGaps(times, from, outages).map(([a, b]) => b - a);
  const rows: Row[] = [];

  // Fixed, tuned by search: no false page; with probes, false probes within falseProbes.
  const learnCfg = parseLearnConfig(LEARN);
  const fixedPage = tuneLimit(gaps, 0);
  const allowedProbes = learnCfg.falseProbes * (to - from);
  const fixedQuiet = Math.min(fixedPage, tuneLimit(gaps, allowedProbes));
  const fx = runBacktest({ spec: spec('fixed', fixedPage, fixedPage, false), trace, outages, seed: SEED, probeLatencyMs: PROBE_LATENCY_MS, keepReasons: false });
  rows.push(fromReport('fixed', `pageAfter=${formatDuration(fixedPage)}`, fx, false));
  const fxp = runBacktest({ spec: spec('fixed', fixedQuiet, fixedPage, true), trace, outages, seed: SEED, probeLatencyMs: PROBE_LATENCY_MS, keepReasons: false });
  rows.push(fromReport('fixed+probe', `quietAfter=${formatDuration(fixedQuiet)}`, fxp, true));
  // A looser probe budget, still far inside 2% of one a minute: the same for both.
  const fixedQuiet2 = Math.min(fixedPage, tuneLimit(gaps, parseLearnConfig({ ...LEARN, falseProbes: PROBE_BUDGET_2 }).falseProbes * (to - from)));
  const fxp2 = runBacktest({ spec: spec('fixed', fixedQuiet2, fixedPage, true), trace, outages, seed: SEED, probeLatencyMs: PROBE_LATENCY_MS, keepReasons: false });
  rows.push(fromReport(`fixed+probe ${PROBE_BUDGET_2}`, `quietAfter=${formatDuration(fixedQuiet2)}`, fxp2, true));

  // Prometheus-style, X tuned the same way on the 15 s grid.
  const promGaps = naturalGaps(times, from, outages).map(([a, b]) => {
    const lastEval = Math.ceil(b / SCRAPE_MS) * SCRAPE_MS - SCRAPE_MS; // last evaluation before b
    return lastEval > a ? lastEval - a : 0;
  });
  const xPage = tuneLimit(promGaps, 0);
  const xQuiet = Math.min(xPage, tuneLimit(promGaps, allowedProbes));
  rows.push(prometheus(times, from, to, outages, xPage, null));
  rows.push(prometheus(times, from, to, outages, xPage, xQuiet));

  // quietwatch: learned online.
  let floors: Array<number | null> = outages.map(() => null);
  let probeFloors: Array<number | null> = outages.map(() => null);
  {
    const limits = new LearnedLimits(parseLearnConfig({ ...LEARN, falseProbes: PROBE_BUDGET_2, holidays: c.holidays ?? [] }));
    const r = runBacktest({ spec: spec('learned', 0, 0, true, limits), trace, outages, seed: SEED, probeLatencyMs: PROBE_LATENCY_MS, keepReasons: false });
    rows.push(fromReport(`learned/nb+probe ${PROBE_BUDGET_2}`, 'min 2s, max 12h', r, true));
  }
  for (const model of models) {
    for (const probe of [false, true]) {
      const limits = new LearnedLimits(parseLearnConfig({ ...LEARN, model, holidays: c.holidays ?? [] }));
      const r = runBacktest({ spec: spec('learned', 0, 0, probe, limits), trace, outages, seed: SEED, probeLatencyMs: PROBE_LATENCY_MS, keepReasons: false, budgetPerMs: PROBE_BUDGET_PER_DAY / DAY });
      const name = `learned/${model}${probe ? '+probe' : ''}`;
      rows.push(fromReport(name, `min 2s, max 12h`, r, probe));
      if (model === 'nb' && !probe) {
        floors = r.outages.map((o) => o.floorMs ?? null);
        probeFloors = r.outages.map((o) => (o.budgetFloorMs === undefined ? null : o.budgetFloorMs + PROBE_LATENCY_MS));
      }
    }
  }
  if (models.includes('nb')) {
    // Ablation: the default model without tail calibration (what nb did before it).
    const limits = new LearnedLimits(parseLearnConfig({ ...LEARN, tailCalibration: false, holidays: c.holidays ?? [] }));
    const r = runBacktest({ spec: spec('learned', 0, 0, false, limits), trace, outages, seed: SEED, probeLatencyMs: PROBE_LATENCY_MS, keepReasons: false });
    rows.push(fromReport('learned/nb uncalibrated', 'min 2s, max 12h', r, false));
  }
  // Robustness: which silences cross a limit depends on how the counts are spread into arrivals.
  const seeds: TraceResult['seeds'] = [];
  if (models.includes('nb')) {
    for (const seed of ROBUST_SEEDS) {
      const [nb, nbProbe] = [false, true].map((probe) => {
        const limits = new LearnedLimits(parseLearnConfig({ ...LEARN, holidays: c.holidays ?? [] }));
        return runBacktest({ spec: spec('learned', 0, 0, probe, limits), trace, outages, seed, probeLatencyMs: PROBE_LATENCY_MS, keepReasons: false }).falsePages;
      }) as [number, number];
      seeds.push({ seed, nb, nbProbe });
    }
  }
  const rd = rateDrop(trace, outages, c.holidays ?? []);
  return { file: c.file, rows, floors, probeFloors, seeds, outages: c.outages, busy: c.busy, days, arrivals: times.length, rateDrop: rd };
}

const fmt = (ms: number | null | undefined): string => (ms === null || ms === undefined ? 'MISSED' : ms === Infinity ? '∞' : formatDuration(ms));

export function formatResult(r: TraceResult): string {
  const head = ['method', 'limits', 'false pages', 'probes/day', ...r.outages.map((o, i) => `delay #${i + 1}`)];
  const body = r.rows.map((row) => [
    row.method,
    row.limits,
    String(row.falsePages),
    row.probesPerDay === null ? '-' : row.probesPerDay.toFixed(2),
    ...row.delays.map(fmt),
  ]);
  body.push(['theoretical floor', 'learned rate, Poisson, 1/year', '-', '-', ...r.floors.map(fmt)]);
  body.push(['floor with probes', `Poisson, ${PROBE_BUDGET_PER_DAY.toFixed(1)} false/day + latency`, '-', '-', ...r.probeFloors.map(fmt)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const out = [
    `### ${r.file} (${r.days.toFixed(1)} days, ${r.arrivals.toLocaleString('en')} arrivals${r.busy ? ', busy' : ''})`,
    '',
    ...r.outages.map((o, i) => `- outage #${i + 1}: ${o.start} .. ${o.end} (${o.note})`),
    '',
    line(head),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...body.map(line),
    '',
  ];
  // Targets, for the default learned model.
  const fixed = r.rows.find((x) => x.method === 'fixed')!;
  const nb = r.rows.find((x) => x.method === 'learned/nb')!;
  const nbp = r.rows.find((x) => x.method === 'learned/nb+probe')!;
  const checks: string[] = [];
  checks.push(`no false page (learned/nb, learned/nb+probe): ${nb.falsePages === 0 && nbp.falsePages === 0 ? 'yes' : 'NO'}`);
  if (r.busy) {
    const readme = r.outages.map((o, i) => (o.note.startsWith('README') ? i : -1)).filter((i) => i >= 0);
    const det = readme.every((i) => nb.delays[i] !== null || nbp.delays[i] !== null);
    checks.push(`every README outage detected: ${det ? 'yes' : 'NO'}`);
    for (const i of readme) {
      const best = Math.min(...[nb.delays[i], nbp.delays[i]].filter((d): d is number => d !== null));
      const f = fixed.delays[i];
      const pf = r.probeFloors[i];
      const why = f !== null && best > f / 3 && pf !== null && pf > f / 3 ? ` (a third is ${fmt(f / 3)}; even with the whole 2% probe budget spent on false probes, no silence can be judged before ${fmt(pf)} at the learned rate)` : '';
      checks.push(`outage #${i + 1}: learned ${fmt(best)} vs fixed ${fmt(f)} -> ${f !== null && best <= f / 3 ? 'within a third' : 'NOT within a third'}${why}`);
    }
  }
  if (r.seeds.length) {
    const all = [{ seed: SEED, nb: nb.falsePages, nbProbe: nbp.falsePages }, ...r.seeds];
    checks.push(
      `false pages with spreading seeds ${all.map((x) => x.seed).join(', ')}: learned/nb ${all.map((x) => x.nb).join(', ')}; learned/nb+probe ${all.map((x) => x.nbProbe).join(', ')}` +
        ` -> ${all.every((x) => x.nb === 0 && x.nbProbe === 0) ? 'none with any seed' : 'NOT robust'}`,
    );
  }
  checks.push(`probes within 2% of one a minute (${PROBE_BUDGET_PER_DAY.toFixed(1)}/day): ${(nbp.probesPerDay ?? 0) <= PROBE_BUDGET_PER_DAY ? 'yes' : 'NO'} (${(nbp.probesPerDay ?? 0).toFixed(2)}/day)`);
  const rd = r.rateDrop;
  checks.push(
    `rate-drop (5-min windows, >= 80% below normal, p < 1/year per window): outages flagged ${rd.perOutage.map((f, i) => `#${i + 1} ${f ? 'yes' : 'no'}`).join(', ')}; ` +
      `${rd.inside} windows inside outages, ${rd.outside} outside (${(rd.outside / r.days).toFixed(2)}/day)${rd.outside ? `: ${rd.outsideAt.slice(0, 6).join(', ')}${rd.outside > 6 ? ', …' : ''}` : ''}`,
  );
  const wall = r.rows.filter((x) => x.wallMs !== undefined).map((x) => x.wallMs!);
  out.push(...checks.map((c) => `- ${c}`), `- replay time per engine run: ${(Math.min(...wall) / 1000).toFixed(1)}..${(Math.max(...wall) / 1000).toFixed(1)} s`, '');
  return out.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const only = process.argv.slice(2);
  for (const c of CASES) {
    if (only.length && !only.some((o) => c.file.includes(o))) continue;
    console.log(formatResult(benchTrace(c)));
  }
}

