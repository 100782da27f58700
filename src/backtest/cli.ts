/**
 * `quietwatch backtest --config FILE --trace FILE [--outages FILE] [--check NAME] [--seed N]
 *  [--probe-latency DURATION] [--json]`
 *
 * Replays a trace through the real engine for each selected check of the config and prints a
 * report: pages (true/false), probes per day, detection delay of each outage.
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
import { runBacktest, type BacktestReport } from './run.ts';
import { loadOutages, loadTrace, type Outage } from './trace.ts';

/** The check specs of a quietwatch config, built exactly as the service builds them. */
export function loadChecks(path: string): CheckSpec[] {
  return parseConfig(readFileSync(path, 'utf8'), path).checks.map((c) => specFor(c));
}

const iso = (t: number) => new Date(t).toISOString().replace('.000Z', 'Z');

export function formatReport(r: BacktestReport, spec: CheckSpec): string {
  const kind = spec.limits ? 'learned limits' : `fixed limits: quiet after ${formatDuration(spec.quietAfterMs)}, page after ${formatDuration(spec.pageAfterMs)}`;
  const out: string[] = [];
  out.push(`check ${r.check} (${kind}${spec.probe ? ', with probes' : ''})`);
  out.push(`  ${iso(r.from)} .. ${iso(r.to)}: ${r.days.toFixed(1)} days, ${r.arrivals.toLocaleString('en')} arrivals, replayed in ${(r.wallMs / 1000).toFixed(1)} s (${r.engineSteps.toLocaleString('en')} engine steps)`);
  out.push(`  pages: ${r.pages.length} (${r.truePages} true, ${r.falsePages} false)`);
  for (const p of r.pages.slice(0, 50)) {
    out.push(`    ${iso(p.at)}  ${p.true ? `true (outage #${p.outage! + 1})` : 'FALSE'}  silent ${formatDuration(p.silenceMs)}${p.reason ? `  ${p.reason}` : ''}`);
  }
  if (r.pages.length > 50) out.push(`    … ${r.pages.length - 50} more`);
  if (spec.probe) {
    out.push(`  probes: ${r.probes.fired} fired (${r.probes.perDay.toFixed(2)}/day; ${r.probes.outsideOutagesPerDay.toFixed(2)}/day outside outages), ${r.probes.proven} proven, ${r.probes.lost} lost`);
  } else {
    out.push(`  quiet warnings: ${r.quietWarnings}`);
  }
  if (r.outages.length) {
    out.push('  outages:');
    r.outages.forEach((o, i) => {
      const det = o.delayMs === null ? 'NOT DETECTED' : `detected after ${formatDuration(o.delayMs)}`;
      const floor = o.floorMs !== undefined && Number.isFinite(o.floorMs) ? ` (theoretical floor ${formatDuration(o.floorMs)})` : '';
      out.push(`    #${i + 1} ${iso(o.start)} .. ${iso(o.end)}  ${det}${floor}`);
    });
  }
  return out.join('\n');
}

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const USAGE = 'usage: quietwatch backtest --config FILE --trace FILE [--outages FILE] [--check NAME] [--seed N] [--probe-latency 10s] [--json]';

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
    if (k === 'json') args[k] = true;
    else if (inline !== undefined) args[k] = inline;
    else if (i + 1 < argv.length) args[k] = argv[++i]!;
    else {
      io.err(`--${k} needs a value\n${USAGE}`);
      return 2;
    }
  }
  const known = new Set(['config', 'trace', 'outages', 'check', 'seed', 'probe-latency', 'json']);
  const unknown = Object.keys(args).filter((k) => !known.has(k));
  if (unknown.length || typeof args.config !== 'string' || typeof args.trace !== 'string') {
    io.err(`${unknown.length ? `unknown option --${unknown[0]}\n` : ''}${USAGE}`);
    return 2;
  }
  let specs: CheckSpec[];
  let outages: Outage[] = [];
  const seed = args.seed === undefined ? 1 : Number(args.seed);
  const latency = args['probe-latency'] === undefined ? 10_000 : durationSchema.safeParse(args['probe-latency']).data;
  if (!Number.isInteger(seed) || latency === undefined) {
    io.err(`--seed must be an integer and --probe-latency a duration\n${USAGE}`);
    return 2;
  }
  let trace;
  try {
    specs = loadChecks(args.config);
    if (typeof args.check === 'string') {
      specs = specs.filter((s) => s.name === args.check);
      if (!specs.length) throw new Error(`no check named ${args.check} in ${args.config}`);
    }
    trace = loadTrace(args.trace);
    if (typeof args.outages === 'string') outages = loadOutages(args.outages);
  } catch (e) {
    io.err((e as Error).message);
    return 2;
  }
  let bad = false;
  const reports: BacktestReport[] = [];
  for (const spec of specs) {
    const r = runBacktest({ spec, trace, outages, seed, probeLatencyMs: latency });
    reports.push(r);
    if (r.falsePages > 0 || r.outages.some((o) => o.delayMs === null)) bad = true;
    if (!args.json) io.out(formatReport(r, spec) + '\n');
  }
  if (args.json) io.out(JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2));
  return bad ? 1 : 0;
}
