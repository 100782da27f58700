/**
 * Run by crash.test.ts in a child process: open the alert store on a file, queue a page, print
 * "QUEUED <incident id>", and wait (PagerDuty is hanging) until the parent SIGKILLs us.
 */
import Database from 'better-sqlite3';
import { systemClock } from '../../src/lib/clock.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { Secret } from '../../src/lib/secret.ts';
import { AlertManager } from '../../src/alerts/manager.ts';
import { SqliteAlertStore } from '../../src/alerts/store-sqlite.ts';
import { PagerDutyNotifier } from '../../src/alerts/pagerduty/index.ts';

const db = new Database(process.env.QW_DB!);
db.pragma('journal_mode = WAL');
const pd = new PagerDutyNotifier({
  name: 'pagerduty',
  routingKey: new Secret(process.env.QW_PD_KEY!),
  eventsUrl: process.env.QW_PD_URL!,
  timeoutMs: 60_000,
  source: 'quietwatch-crash',
});
const m = new AlertManager({
  store: new SqliteAlertStore(db),
  notifiers: { pagerduty: pd },
  routes: { default: { warning: [], page: ['pagerduty'] }, overrides: [] },
  clock: systemClock,
  logger: silentLogger(),
  retry: { minDelayMs: 20, maxDelayMs: 100, maxAttempts: 5, deadlineMs: 2000 },
});
await m.start();
const inc = await m.checkDown({ check: 'card-auth', labels: {}, at: Date.now(), reason: 'no events for 4m' });
process.stdout.write(`QUEUED ${inc.id}\n`);
setInterval(() => {}, 1000);
