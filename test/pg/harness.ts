/**
 * What the replica tests share: a throwaway PostgreSQL, PagerDuty / the acquirer / a webhook as
 * contract servers, real `quietwatch serve` processes on one database, their role as /readyz says it,
 * and a test-only trigger that logs every relayed event whose batch the leader applied.
 *
 * Each test file starts its own cluster (the PostgreSQL-down test stops its own), so vitest may run
 * the files side by side.
 */
import { ContractAcquirer, type SyntheticTransaction } from '../contract/acquirer.ts';
import { startPagerDutyContract, type PagerDutyContract } from '../contract/pagerduty.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../contract/webhook-receiver.ts';
import { freePort, runCli, type Proc } from '../helpers/process.ts';
import { startPostgres, type PgCluster } from '../helpers/postgres.ts';
import { tempDir } from '../helpers/service.ts';

export const PD_KEY = 'R0UT1NGKEY0123456789abcdefABCDEF';
export const HOOK_SECRET = 'hook-secret-for-the-replica-test';

/**
 * The lease in these tests: a takeover within 2-3 s (a follower tries every ttl/3; the leader
 * stops believing it leads ttl/5 before its lease ends). The default is 10 s; a shorter lease only
 * makes a takeover quicker, it changes no rule. Not shorter: with the test machine's 2 cores shared
 * (a load average of 15 was seen), 1.2 s let a leader stall past its validity now and then and step
 * down by itself (exit 75); 2.5 s tolerates a stall of about 1.2 s.
 */
export const TEST_LEASE_TTL = '2500ms';

export interface Env {
  cluster: PgCluster;
  pd: PagerDutyContract;
  acq: ContractAcquirer;
  hook: WebhookReceiver;
  dir: string;
  close(): Promise<void>;
}

export async function startEnv(prefix: string): Promise<Env> {
  const [cluster, pd, acq, hook] = await Promise.all([startPostgres(), startPagerDutyContract({ validKeys: [PD_KEY] }), ContractAcquirer.start({ stream: 'card-auth' }), startWebhookReceiver({ secret: HOOK_SECRET })]);
  return {
    cluster,
    pd,
    acq,
    hook,
    dir: tempDir(prefix),
    async close() {
      await Promise.all([pd.close(), acq.close(), hook.close()]);
      cluster.stop();
    },
  };
}

/** The notifiers, the acquirer driver and the alert retry policy every replica test uses. */
export const commonYaml = (env: Env, o: { reverse?: boolean } = {}) => `
probes:
  drivers:
    acquirer:
      type: http
      url: ${env.acq.url}/v1/charges
      body: { amount: "{{amount}}", currency: "{{currency}}", probe_id: "{{probeId}}", card_token: tok_probe }
      timeout: 1s
      referencePath: data.id${o.reverse ? `\n      reverse: { url: "${env.acq.url}/v1/charges/{{reference}}/void" }` : ''}
  budget: { perHour: 100000, perDay: 1000000 }
alerts:
  notifiers:
    pager: { type: pagerduty, routingKey: "\${PD_KEY}", eventsUrl: "${env.pd.url}", timeoutMs: 1000 }
    hook: { type: webhook, url: "${env.hook.url}", secret: "\${HOOK_SECRET}" }
  routes: { default: { warning: [hook], page: [pager, hook] } }
  retry: { minDelay: 50ms, maxDelay: 500ms }
`;

export interface Replica {
  name: string;
  url: string;
  port: number;
  proc: Proc;
}

/** Real `quietwatch serve` processes; every one started is killed by killAll(). */
export class Replicas {
  readonly all: Proc[] = [];
  readonly started: Replica[] = [];

  async start(name: string, cfg: string, dbUrl: string, port?: number): Promise<Replica> {
    const p = port ?? (await freePort());
    const proc = runCli(['serve', '--config', cfg, '--port', String(p)], { QUIETWATCH_STORE_URL: dbUrl, PD_KEY, HOOK_SECRET, QUIETWATCH_TOKENS: '' });
    this.all.push(proc);
    const r = { name, url: `http://127.0.0.1:${p}`, port: p, proc };
    this.started.push(r);
    return r;
  }

  /** Run a test's body; when it fails, print the replicas' last warnings first (what a starved CI run did). */
  async explain<T>(body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (err) {
      dumpLogs(this.started, 25);
      throw err;
    }
  }

  async killAll(): Promise<void> {
    for (const p of this.all) {
      p.child.kill('SIGCONT');
      p.child.kill('SIGKILL');
    }
    await Promise.all(this.all.map((p) => p.exited));
    this.all.length = 0;
    this.started.length = 0;
  }
}

/**
 * Wait until one of the two leads and the other follows; returns them as [leader, follower] (the
 * first started normally leads, but a slow start may let the second win: the tests take the roles as
 * they are).
 */
export async function settle<R extends { url: string; proc: Proc }>(x: R, y: R, timeoutMs = 60_000): Promise<[R, R]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const [rx, ry] = await Promise.all([role(x), role(y)]);
    if (rx === 'leader' && ry === 'follower') return [x, y];
    if (ry === 'leader' && rx === 'follower') return [y, x];
    for (const r of [x, y]) if (r.proc.child.exitCode !== null) throw new Error(`a replica exited (${r.proc.child.exitCode}) before the roles settled`);
    if (Date.now() > end) throw new Error(`roles did not settle within ${timeoutMs} ms: ${rx} / ${ry}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** What /readyz says this replica is ('leader' | 'follower'), undefined when it does not answer. */
export async function role(r: { url: string }): Promise<string | undefined> {
  try {
    const res = await fetch(`${r.url}/readyz`, { signal: AbortSignal.timeout(1000) });
    return ((await res.json()) as { components?: { replica?: { detail?: { role?: string } } } }).components?.replica?.detail?.role;
  } catch {
    return undefined;
  }
}

export const postTo = (r: { url: string }, body: unknown, timeoutMs = 8000) =>
  fetch(`${r.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });

/** The acquirer's probe transactions come back through the pipeline: to whichever replica takes them. */
export function pipeProbes(env: Env, replicas: () => Replica[]): () => void {
  return env.acq.onTransaction((tx: SyntheticTransaction) => {
    setTimeout(() => void Promise.any(replicas().map((r) => postTo(r, [{ stream: 'card-auth', time: tx.time, id: tx.id, attributes: tx.attributes }]))).catch(() => undefined), 100);
  });
}

/** Test-only: log the id of every relayed event whose batch the leader applied (its DELETE committed). */
export function logApplied(cluster: PgCluster, db: string): () => Set<string> {
  cluster.psql(
    `CREATE TABLE test_applied (event_id TEXT); ALTER TABLE test_applied OWNER TO quietwatch;
     CREATE FUNCTION test_log_applied() RETURNS trigger AS $$ BEGIN INSERT INTO test_applied SELECT e->>'id' FROM json_array_elements(OLD.events) e; RETURN OLD; END $$ LANGUAGE plpgsql;
     CREATE TRIGGER test_applied AFTER DELETE ON ingest_batches FOR EACH ROW EXECUTE FUNCTION test_log_applied();`,
    db,
  );
  return () => new Set(cluster.psql('SELECT DISTINCT event_id FROM test_applied', db).split('\n').filter(Boolean));
}

/** The last lines of each replica's log worth reading (warnings and up, and non-JSON output). */
export function dumpLogs(replicas: ReadonlyArray<{ name: string; proc?: Proc }>, n = 15): void {
  for (const r of replicas) {
    const lines = r.proc?.lines() ?? [];
    const bad = lines.filter((l) => (l.level ?? 0) >= 40 || l.text).slice(-n);
    process.stdout.write(`--- ${r.name} exit=${r.proc?.child.exitCode} (${lines.length} lines)\n${bad.map((l) => JSON.stringify(l).slice(0, 600)).join('\n')}\n`);
  }
}
