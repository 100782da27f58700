/**
 * Rate-drop on a pushed check, through the real service: a partial outage (traffic falls 80% but
 * never stops, so no silence limit fires) pages with the rate-drop reason at the end of a window,
 * and a normal window resolves it. The check's model is learned beforehand (three days of history
 * at 2 events a second, saved to the service's SQLite file as the service itself would have).
 */
import BetterSqlite3 from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prng } from '../../src/backtest/trace.ts';
import { parseLearnConfig } from '../../src/learn/config.ts';
import { LearnedLimits } from '../../src/learn/model.ts';
import { SqliteLearnStore } from '../../src/learn/store-sqlite.ts';
import { waitFor } from '../helpers/process.ts';
import { startService, tempDir, type Running } from '../helpers/service.ts';
import { poissonCount } from '../helpers/random.ts';

const LEARN = { min: '2s', max: '10m', warmup: '1h', rateDrop: { window: '20s', minDrop: 0.7, falseAlarms: '1/year' } };
let svc: Running | undefined;
let pusher: NodeJS.Timeout | undefined;

afterAll(async () => {
  if (pusher) clearInterval(pusher);
  await svc?.close();
});

/** Push one event every `spacingMs` (in batches every 250 ms). */
function push(spacingMs: number): void {
  if (pusher) clearInterval(pusher);
  let next = Date.now();
  pusher = setInterval(() => {
    const batch: Array<{ stream: string }> = [];
    for (const now = Date.now(); next <= now; next += spacingMs) batch.push({ stream: 'auth' });
    if (batch.length) void svc?.fetch('/v1/events', { method: 'POST', body: JSON.stringify(batch) }).catch(() => {});
  }, 250);
}

describe('rate-drop on a pushed check', () => {
  it('pages a partial outage at the end of a window and resolves on a normal one', async () => {
    const dir = tempDir();
    // What three days of 2 events a second taught the model (5-minute Poisson counts up to now).
    const limits = new LearnedLimits(parseLearnConfig(LEARN));
    const rnd = prng(5);
    const M = 300_000;
    const until = Math.floor(Date.now() / M) * M;
    const buckets = [];
    for (let t = until - 3 * 86_400_000; t < until; t += M) buckets.push({ start: t, count: poissonCount(600, rnd), bucketMs: M });
    limits.seed(buckets);
    const db = new BetterSqlite3(join(dir, 'qw.sqlite'));
    await new SqliteLearnStore(db).save('auth', limits.toJSON(), until);
    db.close();

    push(500);
    svc = await startService(
      `
store: { path: ${join(dir, 'qw.sqlite')} }
checks:
  - name: auth
    quietAfter: auto
    pageAfter: auto
    learn: ${JSON.stringify(LEARN)}
`,
      { dir },
    );
    const c = (await svc.fetch('/v1/checks/auth')).body;
    expect(c.limits.source).toBe('learned');
    expect(c.limits.expectedPerMinute).toBeGreaterThan(100);
    expect(c.limits.expectedPerMinute).toBeLessThan(140);
    const flips = async () => ((await svc!.fetch('/v1/checks/auth?flips=100')).body.flips as Array<{ to: string; reason: string }>) ?? [];

    // Normal traffic for two full windows and more: no page.
    await new Promise((r) => setTimeout(r, 50_000));
    expect((await flips()).filter((f) => f.to === 'down')).toEqual([]);
    expect((await svc.fetch('/v1/checks/auth')).body.status).toBe('ok');

    // 80% of the traffic gone, the rest every 2.5 s: no silence limit fires, rate-drop does.
    push(2500);
    const down = await waitFor(async () => (await flips()).find((f) => f.to === 'down'), 70_000, 500);
    expect(down.reason).toMatch(/events, \d+% below normal for this window/);

    push(500);
    await waitFor(async () => ((await svc!.fetch('/v1/checks/auth')).body.status === 'ok' ? true : undefined), 70_000, 500);
  }, 240_000);
});
