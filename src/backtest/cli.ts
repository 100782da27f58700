/**
 * `quietwatch backtest --config FILE --trace FILE [--outages FILE] [--check NAME] [--seeds 1-5]
 *  [--count-column NAME] [--probe-latency DURATION] [--probe-latency-sigma S] [--json]`
 *
 * Replays a trace through the real engine for each selected check of the config and prints a
 * report: a one-line summary of the input (bucket inferred, rows, duplicates, gaps), pages
 * (true/false, silence or rate-drop), incidents and detection delay of each outage, probes per
 * day, and the hindsight fixed-limit baseline on the same arrivals. With several spreading seeds
 * (`--seeds 1-5`) false pages are summed over all of them.
 *
 * The config is read with the service's loader (src/config/load.ts) and each check is built with
 * the service's own `specFor`, so the backtest runs exactly the check that would be deployed.
 */
import { readFileSync } from 'node:fs';
import type { CheckSpec } from '../checks/types.ts';
import { parseConfig } from '../config/load.ts';
import { durationSchema } from '../learn/config.ts';
import { specFor } from '../checks/spec.ts';
import { formatDuration } from '../lib/duration.ts';
import { hindsightFixedLimit } from './baseline.ts';
import { runBacktest, type BacktestReport } from './run.ts';
import { loadOutages, loadTrace, traceSummary, type Outage, type Trace } from './trace.ts';

/** The check specs of a quietwatch config, built exactly as the service builds them. */
export function loadChecks(path: string): CheckSpec[] {
  return parseConfig(readFileSync(path, 'utf8'), path).checks.map((c) => specFor(c));
}

const iso = (t: number) => new Date(t).toISOString().replace('.000Z', 'Z');

/** The hindsight fixed-limit baseline: the smallest fixed pageAfter with no false page on these arrivals. */
export interface Baseline {
  pageAfterMs: number;
  report: BacktestReport;
}

export function baselineFor(spec: CheckSpec, trace: Trace, outages: Outage[], seed: number, latency: number): Baseline {
  const pageAfterMs = hindsightFixedLimit(trace, seed, outages);
  const fixed: CheckSpec = { name: spec.name, stream: spec.stream, match: spec.match, labels: spec.labels, quietAfterMs: pageAfterMs, pageAfterMs };
  return { pageAfterMs, report: runBacktest({ spec: fixed, trace, outages, seed, probeLatencyMs: latency, keepReasons: false }) };
}

const delay = (ms: number | null) => (ms === null ? 'NOT DETECTED' : formatDuration(ms));

export function formatReport(r: BacktestReport, spec: CheckSpec, baseline?: Baseline): string {
  const kind = spec.limits ? 'learned limits' : `fixed limits: quiet after ${formatDuration(spec.quietAfterMs)}, page after ${formatDuration(spec.pageAfterMs)}`;
  const out: string[] = [];
  const rd = r.rateDrop ? ', rate-drop' : '';
  out.push(`check ${r.check} (${kind}${rd}${spec.probe ? ', with probes' : ''})`);
  out.push(`  ${iso(r.from)} .. ${iso(r.to)}: ${r.days.toFixed(1)} days, ${r.arrivals.toLocaleString('en')} arrivals, replayed in ${(r.wallMs / 1000).toFixed(1)} s (${r.engineSteps.toLocaleString('en')} engine steps)`);
  out.push(`  pages: ${r.pages.length} (${r.truePages} true, ${r.falsePages} false)`);
  for (const p of r.pages.slice(0, 50)) {
    const what = p.cause === 'rate-drop' ? 'rate-drop' : `silent ${formatDuration(p.silenceMs)}`;
    out.push(`    ${iso(p.at)}  ${p.true ? `true (outage #${p.outage! + 1})` : 'FALSE'}  ${what}${p.reason ? `  ${p.reason}` : ''}`);
  }
  if (r.pages.length > 50) out.push(`    … ${r.pages.length - 50} more`);
  if (spec.probe) {
    out.push(`  probes: ${r.probes.fired} fired (${r.probes.perDay.toFixed(2)}/day; ${r.probes.outsideOutagesPerDay.toFixed(2)}/day outside outages), ${r.probes.proven} proven, ${r.probes.lost} lost; quiet-triggered ${r.probes.quiet}, at most ${r.probes.quietMaxRollingDay} in a rolling 24 h${spec.probe?.quietPerDay !== undefined ? ` (cap ${spec.probe.quietPerDay})` : ''}`);
  } else {
    out.push(`  quiet warnings: ${r.quietWarnings}`);
  }
  if (r.rateDrop) out.push(`  rate-drop windows: ${r.rateDrop.windows.toLocaleString('en')} judged, ${r.rateDrop.drops} drops (${r.rateDrop.dropsOutsideOutages} outside outages)`);
  if (r.gapsSkipped) out.push(`  trace gaps not judged (no data): ${r.gapsSkipped}`);
  if (r.outages.length) {
    out.push('  outages:');
    r.outages.forEach((o, i) => {
      const det = o.delayMs === null ? 'NOT DETECTED' : `detected after ${formatDuration(o.delayMs)}, ${o.incidents} incident${o.incidents === 1 ? '' : 's'}`;
      const floor = o.floorMs !== undefined && Number.isFinite(o.floorMs) ? ` (theoretical floor ${formatDuration(o.floorMs)})` : '';
      const fixed = baseline ? `; fixed baseline ${delay(baseline.report.outages[i]!.delayMs)}` : '';
      out.push(`    #${i + 1} ${iso(o.start)} .. ${iso(o.end)}  ${det}${floor}${fixed}`);
    });
  }
  if (baseline) {
    out.push(
      `  fixed-limit baseline (hindsight: the smallest pageAfter with no false page on these arrivals): pageAfter ${formatDuration(baseline.pageAfterMs)}, ` +
        `${baseline.report.falsePages} false pages, outages ${baseline.report.outages.length ? baseline.report.outages.map((o, i) => `#${i + 1} ${delay(o.delayMs)}`).join(', ') : 'none listed'}`,
    );
  }
  return out.join('\n');
}

/** Several seeds: one line per seed, then the sums. */
export function formatSeeds(runs: Array<{ seed: number; report: BacktestReport; baseline?: Baseline }>, spec: CheckSpec): string {
  const out: string[] = [];
  const kind = spec.limits ? 'learned limits' : `fixed limits: quiet after ${formatDuration(spec.quietAfterMs)}, page after ${formatDuration(spec.pageAfterMs)}`;
  out.push(`check ${spec.name} (${kind}${runs[0]?.report.rateDrop ? ', rate-drop' : ''}${spec.probe ? ', with probes' : ''}), spreading seeds ${runs.map((r) => r.seed).join(', ')}`);
  for (const { seed, report: r, baseline } of runs) {
    const outs = r.outages.map((o, i) => `#${i + 1} ${delay(o.delayMs)}${o.delayMs === null ? '' : ` (${o.incidents} inc.)`}`).join(', ');
    const probes = spec.probe ? `, ${r.probes.perDay.toFixed(2)} probes/day` : '';
    const fixed = baseline ? `; fixed baseline ${formatDuration(baseline.pageAfterMs)}: ${baseline.report.falsePages} false, ${baseline.report.outages.map((o, i) => `#${i + 1} ${delay(o.delayMs)}`).join(', ') || 'no outages'}` : '';
    out.push(`  seed ${seed}: ${r.pages.length} pages (${r.truePages} true, ${r.falsePages} false)${probes}${outs ? `, outages ${outs}` : ''}${fixed}`);
  }
  const sum = runs.reduce((a, x) => a + x.report.falsePages, 0);
  const missed = runs.reduce((a, x) => a + x.report.outages.filter((o) => o.delayMs === null).length, 0);
  const fixedSum = runs.every((x) => x.baseline) ? `; fixed baseline ${runs.reduce((a, x) => a + x.baseline!.report.falsePages, 0)} false, ${runs.reduce((a, x) => a + x.baseline!.report.outages.filter((o) => o.delayMs === null).length, 0)} missed` : '';
  out.push(`  over ${runs.length} seeds: ${sum} false pages, ${missed} outages missed${fixedSum}`);
  return out.join('\n');
}

/** `1-5`, `1,3,7` or `2`. */
export function parseSeeds(v: string): number[] | undefined {
  const out: number[] = [];
  for (const part of v.split(',')) {
    const m = /^\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?$/.exec(part);
    if (!m) return undefined;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b - a > 1000) return undefined;
    for (let s = a; s <= b; s++) out.push(s);
  }
  return out.length ? out : undefined;
}

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const USAGE =
  'usage: quietwatch backtest --config FILE --trace FILE [--outages FILE] [--check NAME] [--seeds 1-5 | --seed N] [--count-column NAME] [--probe-latency 10s] [--probe-latency-sigma 0.3] [--no-baseline] [--json]';

/** Returns the exit code: 0 ok, 1 a false page or a missed outage, 2 usage or input error. */
export async function backtestCommand(argv: string[], io: Io = { out: (s) => console.log(s), err: (s) => console.error(s) }): Promise<number> {
  const args: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      io.err(`unexpected argument: ${a}\n${USAGE}`);
      return 2;
    }
    const [k, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
    if (k === 'json' || k === 'no-baseline') args[k] = true;
    else if (inline !== undefined) args[k] = inline;
    else if (i + 1 < argv.length) args[k] = argv[++i]!;
    else {
      io.err(`--${k} needs a value\n${USAGE}`);
      return 2;
    }
  }
  const known = new Set(['config', 'trace', 'outages', 'check', 'seed', 'seeds', 'count-column', 'probe-latency', 'probe-latency-sigma', 'no-baseline', 'json']);
  const unknown = Object.keys(args).filter((k) => !known.has(k));
  if (unknown.length || typeof args.config !== 'string' || typeof args.trace !== 'string') {
    io.err(`${unknown.length ? `unknown option --${unknown[0]}\n` : ''}${USAGE}`);
    return 2;
  }
  let specs: CheckSpec[];
  let outages: Outage[] = [];
  const seeds = typeof args.seeds === 'string' ? parseSeeds(args.seeds) : typeof args.seed === 'string' ? parseSeeds(args.seed) : [1];
  const latency = args['probe-latency'] === undefined ? 10_000 : durationSchema.safeParse(args['probe-latency']).data;
  if (!seeds || !seeds.every(Number.isInteger) || latency === undefined || (args.seeds !== undefined && args.seed !== undefined)) {
    io.err(`--seeds must be N, N-M or a list (one of --seed/--seeds), and --probe-latency a duration\n${USAGE}`);
    return 2;
  }
  // The probe transactions' latency spread: log-normal around --probe-latency (its median).
  const sigmaArg = args['probe-latency-sigma'];
  const sigma = sigmaArg === undefined ? 0 : typeof sigmaArg === 'string' && /^\d+(\.\d+)?$/.test(sigmaArg) ? Number(sigmaArg) : NaN;
  if (!(sigma >= 0 && sigma <= 2)) {
    io.err(`--probe-latency-sigma must be a number from 0 to 2 (the spread of the latency's log; 0.3: p99 about twice the median)\n${USAGE}`);
    return 2;
  }
  let trace;
  try {
    specs = loadChecks(args.config);
    if (typeof args.check === 'string') {
      specs = specs.filter((s) => s.name === args.check);
      if (!specs.length) throw new Error(`no check named ${args.check} in ${args.config}`);
    }
    trace = loadTrace(args.trace, typeof args['count-column'] === 'string' ? { countColumn: args['count-column'] } : {});
    if (typeof args.outages === 'string') outages = loadOutages(args.outages);
  } catch (e) {
    io.err((e as Error).message);
    return 2;
  }
  if (!args.json) io.out(traceSummary(trace, formatDuration));
  let bad = false;
  const reports: Array<BacktestReport & { seed: number; baseline?: { pageAfterMs: number; falsePages: number; delays: Array<number | null> } }> = [];
  // Each check is rebuilt per seed: a learned model learns online and must start empty each time.
  const fresh = (i: number) => (i === 0 ? specs : loadChecks(args.config as string).filter((s) => specs.some((x) => x.name === s.name)));
  const runs = new Map<string, Array<{ seed: number; report: BacktestReport; baseline?: Baseline }>>();
  seeds.forEach((seed, i) => {
    for (const spec of fresh(i)) {
      const report = runBacktest({ spec, trace, outages, seed, probeLatencyMs: latency, probeLatencySigma: sigma });
      const baseline = args['no-baseline'] ? undefined : baselineFor(spec, trace, outages, seed, latency);
      if (report.falsePages > 0 || report.outages.some((o) => o.delayMs === null)) bad = true;
      const list = runs.get(spec.name) ?? [];
      list.push({ seed, report, ...(baseline ? { baseline } : {}) });
      runs.set(spec.name, list);
      reports.push({
        seed,
        ...report,
        ...(baseline ? { baseline: { pageAfterMs: baseline.pageAfterMs, falsePages: baseline.report.falsePages, delays: baseline.report.outages.map((o) => o.delayMs) } } : {}),
      });
    }
  });
  if (args.json) {
    io.out(JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2));
  } else {
    for (const spec of specs) {
      const list = runs.get(spec.name)!;
      io.out((list.length === 1 ? formatReport(list[0]!.report, spec, list[0]!.baseline) : formatSeeds(list, spec)) + '\n');
    }
  }
  return bad ? 1 : 0;
}
