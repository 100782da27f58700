#!/usr/bin/env node
/** The `quietwatch` command. */
import { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { DEFAULT_CONFIG_PATH } from './config/paths.ts';
import { registerMigrateCommand } from './store/migrate.ts';

// The service, the config schema and the backtest are imported by the commands that use them: the
// client commands (status, probe, sandbox, ack, ...) start in a fraction of the time.

const program = new Command();
program.name('quietwatch').description("Deadman's-switch monitor for payment pipelines").version('0.1.0');

const configOpt = ['-c, --config <file>', 'config file (YAML)', process.env.QUIETWATCH_CONFIG ?? DEFAULT_CONFIG_PATH] as const;
const serverOpt = ['-s, --server <url>', 'quietwatch server URL', process.env.QUIETWATCH_URL ?? 'http://127.0.0.1:8080'] as const;
const tokenOpt = ['-t, --token <token>', 'bearer token (or QUIETWATCH_TOKEN)', process.env.QUIETWATCH_TOKEN] as const;

function fail(message: string, code = 1): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

async function load(path: string) {
  const { ConfigError, loadConfig } = await import('./config/load.ts');
  try {
    return loadConfig(path);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 2);
    throw err;
  }
}

export async function api(opts: { server: string; token?: string }, method: string, path: string, body?: unknown): Promise<unknown> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(new URL(path, opts.server), { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    fail(`cannot reach ${opts.server}: ${(err as Error).message}`);
  }
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  if (!res.ok) {
    const m = (json as { message?: string })?.message ?? text;
    fail(`${method} ${path}: ${res.status} ${m}`);
  }
  return json;
}

const ago = (t: number | null, now: number) => (t === null ? '-' : `${Math.round((now - t) / 1000)}s ago`);
const inS = (t: number | null, now: number) => (t === null ? '-' : `in ${Math.max(0, Math.round((t - now) / 1000))}s`);

export function renderStatusTable(checks: Array<Record<string, any>>, now: number): string {
  const rows = checks.map((c) => [
    c.name,
    c.status.toUpperCase(),
    ago(c.lastEventAt, now),
    inS(c.deadlines?.next ?? null, now),
    c.probe ? `${c.probe.id.slice(0, 12)} ${c.probe.accepted ? 'accepted' : 'pending'}` : '-',
    c.incident ? `${c.incident.id}${c.incident.ackedAt ? ' (acked)' : ''}` : '-',
  ]);
  const head = ['CHECK', 'STATE', 'LAST EVENT', 'NEXT DEADLINE', 'PROBE', 'INCIDENT'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const fmt = (r: string[]) => r.map((v, i) => String(v).padEnd(widths[i]!)).join('  ').trimEnd();
  return [fmt(head), ...rows.map(fmt)].join('\n');
}

registerMigrateCommand(program, fail);

program
  .command('serve')
  .description('run the service')
  .option(...configOpt)
  .option('--host <host>', 'listen address (overrides server.host)')
  .option('--port <port>', 'listen port (overrides server.port)')
  .option('--store <path>', 'SQLite file (overrides store.path)')
  .option('--sandbox', `run the sandbox demo (${DEFAULT_CONFIG_PATH}) instead of --config`)
  .action(async (o: { config: string; host?: string; port?: string; store?: string; sandbox?: boolean }) => {
    const config = await load(o.sandbox ? DEFAULT_CONFIG_PATH : o.config);
    const { StartupError, createService } = await import('./main.ts');
    const { StoreOpenError } = await import('./store/sqlite.ts');
    if (o.host) config.server.host = o.host;
    if (o.port) config.server.port = Number(o.port);
    if (o.store) config.store.path = o.store;
    let svc: Awaited<ReturnType<typeof createService>> | undefined;
    // The deadman switch must never die because one promise was dropped: log loudly, count, go on.
    let unhandled = 0;
    process.on('unhandledRejection', (reason) => {
      unhandled++;
      const log = svc?.logger;
      if (log) log.fatal({ err: reason, unhandled }, 'BUG: unhandled promise rejection; the service keeps running');
      else console.error('BUG: unhandled promise rejection; the service keeps running:', reason);
    });
    try {
      svc = await createService(config, {
        // PostgreSQL replicas: a leader that lost its lease exits (75, EX_TEMPFAIL) and its supervisor
        // restarts it as a follower; the fencing token has already made its late claims harmless.
        onDeposed: (reason) => {
          process.stderr.write(`quietwatch: lost the leader lease (${reason}); exiting so the supervisor restarts this replica as a follower\n`);
          process.exit(75);
        },
      });
      await svc.listen();
    } catch (err) {
      if (err instanceof StartupError || err instanceof StoreOpenError) fail(err.message, 2);
      throw err;
    }
    const stop = async (sig: string) => {
      svc.logger.info({ signal: sig }, 'shutting down');
      await svc.close();
      process.exit(0);
    };
    process.once('SIGINT', () => void stop('SIGINT'));
    process.once('SIGTERM', () => void stop('SIGTERM'));
  });

program
  .command('validate')
  .description('validate a config file and print a summary; exit 2 with every problem when invalid')
  .option(...configOpt)
  .option('--schema <file>', 'also write the JSON Schema of the config to this file')
  .action(async (o: { config: string; schema?: string }) => {
    const c = await load(o.config);
    const { configJsonSchema } = await import('./config/load.ts');
    const { unroutedChecks } = await import('./alerts/unrouted.ts');
    if (o.schema) writeFileSync(o.schema, `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    process.stdout.write(`${o.config}: ok (${c.checks.length} checks: ${c.checks.map((x) => x.name).join(', ')})\n`);
    // A deadman switch that pages into the void looks configured: say so (a warning, not an error).
    for (const u of unroutedChecks(c)) process.stderr.write(`warning: ${u.message}\n`);
  });

program
  .command('status')
  .description('the checks of a running server, as a table')
  .option(...serverOpt)
  .option(...tokenOpt)
  .option('--json', 'print JSON')
  .action(async (o: { server: string; token?: string; json?: boolean }) => {
    const r = (await api(o, 'GET', '/v1/checks')) as { checks: Array<Record<string, any>> };
    if (o.json) process.stdout.write(`${JSON.stringify(r.checks, null, 2)}\n`);
    else process.stdout.write(`${renderStatusTable(r.checks, Date.now())}\n`);
  });

for (const action of ['pause', 'resume'] as const) {
  program
    .command(`${action} <check>`)
    .description(`${action} a check (admin scope)`)
    .option(...serverOpt)
    .option(...tokenOpt)
    .action(async (check: string, o: { server: string; token?: string }) => {
      const r = (await api(o, 'POST', `/v1/checks/${encodeURIComponent(check)}/${action}`)) as { status: string };
      process.stdout.write(`${check}: ${r.status}\n`);
    });
}

program
  .command('probe <check>')
  .description('fire one probe of a check by hand (admin scope)')
  .option(...serverOpt)
  .option(...tokenOpt)
  .action(async (check: string, o: { server: string; token?: string }) => {
    const r = (await api(o, 'POST', `/v1/checks/${encodeURIComponent(check)}/probe`)) as { probe: { id: string; deadline: number } };
    process.stdout.write(`${check}: probe ${r.probe.id} fired; its transaction must arrive by ${new Date(r.probe.deadline).toISOString()}\n`);
  });

program
  .command('probes [check]')
  .description('recent probes (read scope)')
  .option(...serverOpt)
  .option(...tokenOpt)
  .action(async (check: string | undefined, o: { server: string; token?: string }) => {
    const r = (await api(o, 'GET', `/v1/probes${check ? `?check=${encodeURIComponent(check)}` : ''}`)) as { probes: Array<Record<string, any>> };
    for (const p of r.probes) {
      process.stdout.write(
        `${new Date(p.firedAt).toISOString()}  ${p.check}  ${p.reason.padEnd(8)} ${p.result.padEnd(14)} ${p.latencyMs !== undefined ? `${p.latencyMs}ms` : '-'}  ${p.reference ?? '-'}  ${p.costMinor} ${p.currency}\n`,
      );
    }
  });

program
  .command('sandbox <mode>')
  .description('switch the sandbox pipeline: healthy | quiet | broken | acquirer-down (admin scope)')
  .option(...serverOpt)
  .option(...tokenOpt)
  .action(async (mode: string, o: { server: string; token?: string }) => {
    const r = (await api(o, 'POST', '/v1/sandbox/pipeline', { mode })) as { mode: string; previous: string };
    process.stdout.write(`sandbox pipeline: ${r.previous} -> ${r.mode}\n`);
  });

program
  .command('ack <incident>')
  .description('acknowledge an incident (admin scope); PagerDuty and Slack follow')
  .option(...serverOpt)
  .option(...tokenOpt)
  .option('--by <name>', 'who acknowledges', process.env.USER ?? 'cli')
  .action(async (incident: string, o: { server: string; token?: string; by: string }) => {
    const r = (await api(o, 'POST', `/v1/incidents/${encodeURIComponent(incident)}/ack`, { by: o.by })) as { incident: { id: string; check: string; status: string } };
    process.stdout.write(`incident ${r.incident.id} (${r.incident.check}): ${r.incident.status}\n`);
  });

program
  .command('incidents')
  .description('open incidents (read scope)')
  .option(...serverOpt)
  .option(...tokenOpt)
  .option('--all', 'include resolved incidents')
  .action(async (o: { server: string; token?: string; all?: boolean }) => {
    const r = (await api(o, 'GET', `/v1/incidents${o.all ? '' : '?open=true'}`)) as { incidents: Array<Record<string, any>> };
    if (r.incidents.length === 0) process.stdout.write('no incidents\n');
    for (const i of r.incidents) process.stdout.write(`${i.id}  ${i.check}  ${i.status}  opened ${new Date(i.openedAt).toISOString()}  ${i.summary ?? ''}\n`);
  });

program
  .command('silence <check>')
  .description('silence a check for a while (admin scope): it still changes state, its pages are held')
  .option(...serverOpt)
  .option(...tokenOpt)
  .requiredOption('--for <duration>', 'how long, e.g. 2h, 30m')
  .requiredOption('--reason <text>', 'why (shown to on-call)')
  .action(async (check: string, o: { server: string; token?: string; for: string; reason: string }) => {
    const r = (await api(o, 'POST', '/v1/silences', { check, for: o.for, reason: o.reason })) as { silence: { id: string; endsAt: number } };
    process.stdout.write(`silence ${r.silence.id} on ${check} until ${new Date(r.silence.endsAt).toISOString()}\n`);
  });

program
  .command('backtest')
  .description('replay a trace through the real engine in virtual time and report pages, probes/day and detection delays')
  .requiredOption('-c, --config <file>', 'quietwatch config with the check(s) to test')
  .requiredOption('--trace <file>', 'events (one timestamp per line, or CSV) or counts per bucket (timestamp,value CSV)')
  .option('--outages <file>', 'known outages: CSV or JSON of [start, end]')
  .option('--check <name>', 'only this check')
  .option('--seed <n>', 'seed for spreading bucket counts as Poisson arrivals (runs repeat)', '1')
  .option('--seeds <list>', 'several spreading seeds (1-5, or 1,3,7): false pages summed over them')
  .option('--count-column <name>', 'the CSV column holding each bucket\'s count')
  .option('--probe-latency <duration>', 'simulated probe latency outside outages', '10s')
  .option('--no-baseline', 'skip the hindsight fixed-limit baseline')
  .option('--json', 'print the raw report')
  .action(async (o: { config: string; trace: string; outages?: string; check?: string; json?: boolean; seed: string; seeds?: string; countColumn?: string; baseline: boolean; probeLatency: string }) => {
    const { backtestCommand } = await import('./backtest/cli.ts');
    const argv = ['--config', o.config, '--trace', o.trace];
    if (o.outages) argv.push('--outages', o.outages);
    if (o.check) argv.push('--check', o.check);
    argv.push(...(o.seeds ? ['--seeds', o.seeds] : ['--seed', o.seed]), '--probe-latency', o.probeLatency);
    if (o.countColumn) argv.push('--count-column', o.countColumn);
    if (!o.baseline) argv.push('--no-baseline');
    if (o.json) argv.push('--json');
    process.exitCode = await backtestCommand(argv);
  });

export { program };

// Run directly (`tsx src/cli.ts …`, as `npm start` does); bin/quietwatch.js imports `program` instead.
if (process.argv[1]?.endsWith('cli.ts')) {
  program.parseAsync(process.argv).catch((err: unknown) => fail(err instanceof Error ? (err.stack ?? err.message) : String(err)));
}
