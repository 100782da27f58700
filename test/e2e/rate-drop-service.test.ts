/**
 * Rate-drop on a pushed check, through the real service in virtual time: a partial outage (traffic
 * falls 80% but never stops, so no silence limit fires) pages with the rate-drop reason at the end of
 * a window, and a normal window resolves it. The check's model is learned beforehand (eight days of
 * history at 2 events a second, saved to the service's SQLite file as the service itself would have).
 * Two virtual minutes and more, in well under a second of waiting.
 */
import BetterSqlite3 from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { prng } from '../../src/backtest/trace.ts';
import { parseLearnConfig } from '../../src/learn/config.ts';
import { LearnedLimits } from '../../src/learn/model.ts';
import { SqliteLearnStore } from '../../src/learn/store-sqlite.ts';
import { startService, tempDir, type Running } from '../helpers/service.ts';
import { poissonCount } from '../helpers/random.ts';
import { useVirtualTime, type VirtualTime } from '../helpers/virtual-time.ts';

const LEARN = { min: '2s', max: '10m', warmup: '1h', rateDrop: { window: '20s', minDrop: 0.7, falseAlarms: '1/year' } };
let svc: Running | undefined;
let vt: VirtualTime | undefined;

afterEach(async () => {
  await svc?.close();
  vt?.restore();
});

describe('rate-drop on a pushed check (virtual time)', () => {
  it('pages a partial outage at the end of a window and resolves on a normal one', async () => {
    vt = useVirtualTime();
    const dir = tempDir();
    // What eight days of 2 events a second taught the model (5-minute Poisson counts up to now).
    // Eight days, not three: on a Saturday or Sunday the hour had no history of its own (weekend
    // buckets borrow little from the other days, by design) and the test failed at weekends only.
    const limits = new LearnedLimits(parseLearnConfig(LEARN));
    const rnd = prng(5);
    const M = 300_000;
    const until = Math.floor(vt.now() / M) * M;
    const buckets = [];
    for (let t = until - 8 * 86_400_000; t < until; t += M) buckets.push({ start: t, count: poissonCount(600, rnd), bucketMs: M });
    limits.seed(buckets);
    const db = new BetterSqlite3(join(dir, 'qw.sqlite'));
    await new SqliteLearnStore(db).save('auth', limits.toJSON(), until);
    db.close();

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
    const s = svc;
    // One event every `spacing` ms, posted in batches every 250 ms of virtual time.
    let spacing = 500;
    let next = vt.now();
    const pushFor = async (ms: number, stop?: () => Promise<boolean>) => {
      for (let t = 0; t < ms; t += 250) {
        await vt!.advance(250, 250);
        const batch: Array<{ stream: string }> = [];
        for (const now = vt!.now(); next <= now; next += spacing) batch.push({ stream: 'auth' });
        if (batch.length) expect((await s.inject('/v1/events', { method: 'POST', body: JSON.stringify(batch) })).status).toBe(202);
        if (stop && (await stop())) return t + 250;
      }
      return undefined;
    };
    const c = (await s.inject('/v1/checks/auth')).body;
    expect(c.limits.source).toBe('learned');
    expect(c.limits.expectedPerMinute).toBeGreaterThan(100);
    expect(c.limits.expectedPerMinute).toBeLessThan(140);
    // The probes a day the learned quiet limit is set to spend (no probe here: falseProbes alone).
    expect(c.probesPerDay.expected).toBeGreaterThan(0);
    expect(c.probesPerDay.expected).toBeLessThan(1);
    expect(c.probesPerDay).toHaveProperty('observed');
    const flips = async () => ((await s.inject('/v1/checks/auth?flips=100')).body.flips as Array<{ to: string; reason: string; at: number }>) ?? [];

    // Normal traffic for two full windows and more: no page.
    await pushFor(50_000);
    expect((await flips()).filter((f) => f.to === 'down')).toEqual([]);
    expect((await s.inject('/v1/checks/auth')).body.status).toBe('ok');

    // 80% of the traffic gone, the rest every 2.5 s: no silence limit fires, rate-drop does.
    spacing = 2_500;
    const dropAt = vt.now();
    const tookDown = await pushFor(70_000, async () => (await flips()).some((f) => f.to === 'down'));
    expect(tookDown, 'paged within 70 s of the drop').toBeDefined();
    const down = (await flips()).find((f) => f.to === 'down')!;
    expect(down.reason).toMatch(/events, \d+% below normal for this window/);
    // At the end of the first window that is wholly inside the drop (20 s windows): within 2 windows.
    expect(down.at - dropAt).toBeLessThanOrEqual(40_000);

    spacing = 500;
    const tookOk = await pushFor(70_000, async () => (await s.inject('/v1/checks/auth')).body.status === 'ok');
    expect(tookOk, 'resolved within 70 s of traffic returning').toBeDefined();
  });
});
