/**
 * `quietwatch migrate --from FILE --to postgres://…`: a SQLite store written by the real stores
 * (states, flips, incidents, outbox, receipts, silences, probes, learned models) moves into PostgreSQL
 * and reads back identical through the PostgreSQL stores; a non-empty target is refused.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckState, Flip } from '../../src/checks/types.ts';
import { parseLearnConfig } from '../../src/learn/config.ts';
import { LearnedLimits } from '../../src/learn/model.ts';
import { createStores, type Stores } from '../../src/store/index.ts';
import { moveSqliteToPostgres } from '../../src/store/migrate.ts';
import { startPostgres, type PgCluster } from '../helpers/postgres.ts';

const T0 = Date.UTC(2026, 10, 29, 12, 0, 0);
let cluster: PgCluster;
let dir: string;
beforeAll(async () => {
  cluster = await startPostgres();
  dir = mkdtempSync(join(tmpdir(), 'qw-migrate-'));
});
afterAll(() => {
  cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function fill(s: Stores): Promise<void> {
  const st = (status: CheckState['status'], at: number) => ({ status, since: at, lastEventAt: at - 1000, lastEventTime: at - 1100, watchFrom: at - 1000, probe: null, quietStreak: 0, downs: [at], heldUntil: null, held: false }) as unknown as CheckState;
  const flips: Flip[] = [];
  for (let i = 0; i < 2500; i++) flips.push({ check: i % 2 ? 'visa' : 'mc', from: 'ok', to: 'quiet', at: T0 + i, reason: `silent ${i}s` });
  await s.store.commit([['visa', st('down', T0)], ['mc', st('ok', T0 + 5)]], flips);
  const inc = { id: 'i1', check: 'visa', labels: { team: 'payments' }, dedupKey: 'quietwatch/i1/visa', status: 'open' as const, severity: 'critical' as const, summary: 'visa is down', reason: 'silent 2m', details: { reason: 'silent 2m', state: 'down' }, openedAt: T0, releasedAt: T0, notifiers: ['pd'] };
  const note = { id: 'n1', incidentId: 'i1', dedupKey: inc.dedupKey, action: 'trigger' as const, severity: 'critical' as const, check: 'visa', labels: {}, summary: 's', createdAt: T0, details: { reason: 'r', state: 'down' } };
  await s.alertStore.commit({
    incident: inc,
    insert: [
      { id: 'n1/pd', notifier: 'pd', incidentId: 'i1', notification: note, status: 'pending', nextAttemptAt: T0, createdAt: T0 },
      { id: 'n1/slack', notifier: 'slack', incidentId: 'i1', notification: note, status: 'pending', nextAttemptAt: T0, createdAt: T0 },
    ],
  });
  await s.alertStore.updateOutbox('n1/slack', { status: 'failed', attempts: 3, lastErrorCode: 'SLACK_HTTP_403', lastError: 'forbidden', permanent: true });
  await s.alertStore.putReceipt('pd', 'i1', { dedup_key: inc.dedupKey });
  await s.alertStore.insertSilence({ id: 's1', matchers: { check: 'mc' }, startsAt: T0, endsAt: T0 + 3_600_000, reason: 'maintenance', createdBy: 'ops', createdAt: T0 });
  await s.probeStore.insert({ id: 'p1', check: 'visa', reason: 'quiet', driver: 'sbx', idempotencyKey: 'k1', firedAt: T0, deadline: T0 + 15_000, chargedAt: T0 + 5, result: 'lost', reference: 'ch_1', costMinor: 100, currency: 'gbp', attempts: 1, settledAt: T0 + 15_000 });
  await s.probeStore.insert({ id: 'p2', check: 'visa', reason: 'quiet', driver: 'sbx', idempotencyKey: 'k2', firedAt: T0 + 1, deadline: T0 + 15_000, result: 'skipped-budget', costMinor: 0, currency: 'gbp', attempts: 0, error: 'global budget exhausted' });
  const limits = new LearnedLimits(parseLearnConfig({ min: '1s', max: '6h', model: 'poisson', adapt: false }));
  for (let t = T0; t < T0 + 7_200_000; t += 900) limits.observe(t);
  await s.learnStore.save('visa', limits.model.toJSON(), T0 + 7_200_000);
}

async function snapshot(s: Stores) {
  return {
    states: [...(await s.store.loadCheckStates())].sort(),
    flips: await s.store.listFlips('visa', 10_000),
    mcFlips: (await s.store.listFlips('mc', 10_000)).length,
    incidents: await s.alertStore.listIncidents({}),
    outbox: await s.alertStore.listOutbox({}),
    receipt: await s.alertStore.getReceipt('pd', 'i1'),
    silences: await s.alertStore.listSilences(),
    probes: await s.probeStore.list({ limit: 1000 }),
    charges: await s.probeStore.countCharges({ since: 0 }),
    models: await s.learnStore.list(),
    model: await s.learnStore.load('visa'),
  };
}

describe('quietwatch migrate', () => {
  it('moves every table from SQLite to PostgreSQL, and the PostgreSQL stores read back the same', async () => {
    const file = join(dir, 'qw.sqlite');
    const src = await createStores({ path: file });
    await fill(src);
    const before = await snapshot(src);
    await src.close();

    const url = cluster.createDatabase('moved');
    const report = await moveSqliteToPostgres({ from: file, to: url, batch: 700 });
    expect(report.rows).toMatchObject({ check_state: 2, flips: 2500, alert_incidents: 1, alert_outbox: 2, alert_receipts: 1, alert_silences: 1, probes: 2, learn_models: 1 });
    expect(report.to).not.toContain(cluster.password);

    const dst = await createStores({ path: 'unused', url });
    await dst.lease!.tick(); // it writes below: only the leader writes check state
    try {
      const after = await snapshot(dst);
      expect(after).toEqual(before);
      // sequences moved on: new flips and outbox rows come after the copied ones
      await dst.store.commit([], [{ check: 'visa', from: 'quiet', to: 'ok', at: T0 + 9999, reason: 'events' }]);
      expect((await dst.store.listFlips('visa', 1))[0]!.id).toBe(2501);
      await dst.alertStore.commit({ insert: [{ id: 'n2/pd', notifier: 'pd', notification: before.outbox[0]!.notification, status: 'pending', nextAttemptAt: T0, createdAt: T0 }] });
      expect((await dst.alertStore.listOutbox({})).at(-1)!.seq).toBe(3);
    } finally {
      await dst.close();
    }

    // a second run into the same (now non-empty) database is refused and changes nothing
    await expect(moveSqliteToPostgres({ from: file, to: url })).rejects.toMatchObject({ code: 'MIGRATE_TARGET_NOT_EMPTY' });
  });

  it('runs as the CLI command and never prints the password', () => {
    const file = join(dir, 'empty.sqlite');
    spawnSync(process.execPath, ['-e', `new (require('better-sqlite3'))(${JSON.stringify(file)}).exec('CREATE TABLE check_state (name TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at INTEGER NOT NULL)')`]);
    const url = cluster.createDatabase('viacli');
    const r = spawnSync(process.execPath, ['bin/quietwatch.js', 'migrate', '--from', file, '--to', url], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/moved .*empty\.sqlite -> postgres:\/\/quietwatch@127\.0\.0\.1:\d+\/viacli/);
    expect(r.stdout).toMatch(/check_state\s+0/);
    const again = spawnSync(process.execPath, ['bin/quietwatch.js', 'migrate', '--from', join(dir, 'nope.sqlite'), '--to', url], { encoding: 'utf8', timeout: 60_000 });
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/MIGRATE_NO_SOURCE/);
    expect(again.stdout + again.stderr).not.toContain(cluster.password);
  });
});
