/**
 * Crash safety: SIGKILL the process after an incident is opened but before PagerDuty answered.
 * A new manager on the same SQLite file delivers the trigger, and PagerDuty sees one incident.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/lib/clock.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { Secret } from '../../src/lib/secret.ts';
import { AlertManager } from '../../src/alerts/manager.ts';
import { SqliteAlertStore } from '../../src/alerts/store-sqlite.ts';
import { PagerDutyNotifier } from '../../src/alerts/pagerduty/index.ts';
import { startPagerDutyContract, type PagerDutyContract } from '../contract/pagerduty.ts';
import { PD_KEY, waitFor } from './helpers.ts';

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

describe('crash safety', () => {
  it('a page queued before a SIGKILL is delivered after restart, and PagerDuty never sees two incidents', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qw-alerts-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'quietwatch.db');
    const pd: PagerDutyContract = await startPagerDutyContract({ validKeys: [PD_KEY] });
    cleanup.push(() => pd.close());
    pd.setDown({ hang: true });

    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'crash-child.ts')], {
      env: { ...process.env, QW_DB: file, QW_PD_URL: pd.url, QW_PD_KEY: PD_KEY },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    cleanup.push(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    await waitFor(() => out.includes('QUEUED') && pd.requests.length === 1, 20_000, `child to queue and send (stderr: ${err})`);
    const incidentId = /QUEUED (\S+)/.exec(out)![1]!;
    const firstKey = (pd.requests[0] as { dedup_key: string }).dedup_key;

    // PagerDuty has the request but has not answered: kill -9.
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    pd.setDown(undefined);
    expect(pd.events).toHaveLength(0);

    // Restart on the same file.
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    const store = new SqliteAlertStore(db);
    const m = new AlertManager({
      store,
      notifiers: {
        pagerduty: new PagerDutyNotifier({ name: 'pagerduty', routingKey: new Secret(PD_KEY), eventsUrl: pd.url, timeoutMs: 1000, source: 'quietwatch-crash' }),
      },
      routes: { default: { warning: [], page: ['pagerduty'] }, overrides: [] },
      clock: systemClock,
      logger: silentLogger(),
      retry: { minDelayMs: 20, maxDelayMs: 100, maxAttempts: 5, deadlineMs: 2000 },
    });
    cleanup.push(async () => {
      await m.stop();
      db.close();
    });
    await m.start();
    await waitFor(() => pd.events.length === 1, 5000, 'trigger resent after restart');
    expect(pd.events[0]!.event_action).toBe('trigger');
    expect(pd.events[0]!.dedup_key).toBe(firstKey);
    await waitFor(async () => (await store.listOutbox({ status: ['delivered'] })).length === 1, 2000, 'marked delivered');

    // The same incident resolves with the same key; PagerDuty counted one incident throughout.
    const inc = await m.getIncident(incidentId);
    expect(inc?.status).toBe('open');
    await m.checkRecovered({ check: 'card-auth', at: Date.now(), reason: 'events are back' });
    await waitFor(() => pd.events.length === 2, 5000, 'resolve');
    expect(pd.events.map((e) => [e.event_action, e.dedup_key])).toEqual([
      ['trigger', firstKey],
      ['resolve', firstKey],
    ]);
    expect(pd.alerts.size).toBe(1);
    expect(pd.incidentsOpened()).toBe(1);
  });
});
