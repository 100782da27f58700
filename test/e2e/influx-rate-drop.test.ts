/**
 * Rate-drop on an InfluxDB-fed check, through the real service and a real influxd.
 *
 * The measurement gets 2 points a second and is polled every 2 s, so one poll covers ~4 points:
 * the learned model and the rate-drop windows must be fed the points *counted* per polled interval
 * (a model fed one event per poll would see 10 per 20 s window where 40 are normal — a 75% drop —
 * and page in the first phase). Then traffic falls 80% without stopping (a partial outage): the
 * check pages with the rate-drop reason; traffic returns: it resolves by itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prng } from '../../src/backtest/trace.ts';
import { startService, type Running } from '../helpers/service.ts';
import { useVirtualTime, type VirtualTime } from '../helpers/virtual-time.ts';
import { startInfluxd, type InfluxServer } from '../influx/server.ts';

let influx: InfluxServer;
let svc: Running | undefined;
let vt: VirtualTime | undefined;
const DB = 'pipeline';
const RATE = 2; // points per second

async function write(lines: string[]): Promise<void> {
  for (let i = 0; i < lines.length; i += 20_000) {
    const res = await fetch(`${influx.url}/write?db=${DB}&precision=ms`, { method: 'POST', body: lines.slice(i, i + 20_000).join('\n') });
    if (res.status !== 204) throw new Error(`write failed ${res.status}: ${await res.text()}`);
  }
}

beforeAll(async () => {
  influx = await startInfluxd();
  await influx.createDatabase(DB);
  // Eight days of history at 2 a second (Poisson), ending now: every hour of the week seen.
  // Eight days, not three: on a Saturday or Sunday the hour had no history of its own (weekend
  // buckets borrow little from the other days, by design) and the test failed at weekends only.
  const rnd = prng(3);
  const lines: string[] = [];
  const now = Date.now();
  for (let t = now - 8 * 86_400_000; t < now; t += -Math.log(1 - rnd()) * (1000 / RATE)) lines.push(`auths,host=a v=1 ${Math.floor(t)}`);
  await write(lines);
}, 120_000);

afterAll(async () => {
  await svc?.close();
  vt?.restore();
  await influx?.stop();
});

const flips = async () => ((await svc!.inject('/v1/checks/fed?flips=100')).body.flips as Array<{ from: string; to: string; reason: string }>) ?? [];

describe('rate-drop on an InfluxDB-fed check (points counted per poll, virtual time)', () => {
  it('stays quiet on normal traffic polled in batches, pages an 80% drop, resolves when traffic returns', async () => {
    // Virtual time from here: the live points carry virtual timestamps, the polls query real influxd.
    vt = useVirtualTime();
    let spacing = 1000 / RATE;
    let next = Math.ceil(vt.now() / spacing) * spacing;
    /** Live traffic on a regular grid, written every 250 ms of virtual time; each poll's real I/O is awaited. */
    const run = async (ms: number, stop?: () => Promise<boolean>): Promise<number | undefined> => {
      for (let t = 0; t < ms; t += 250) {
        const lines: string[] = [];
        for (const now = vt!.now(); next <= now; next += spacing) lines.push(`auths,host=a v=1 ${next}`);
        if (lines.length) await write(lines);
        await vt!.advance(250, 250);
        await svc?.svc.source?.idle();
        if (stop && (await stop())) return t + 250;
      }
      return undefined;
    };
    svc = await startService(`
checks:
  - name: fed
    quietAfter: auto
    pageAfter: auto
    learn: { min: 5s, max: 1h, warmup: 1h, rateDrop: { window: 20s, minDrop: 0.7, falseAlarms: 1/year } }
    source: { type: influxdb, url: "${influx.url}", database: ${DB}, measurement: auths, field: v, where: { host: a }, pollInterval: 2s, countDelay: 1s }
`);
    const s = svc;
    await s.svc.sourceStarted; // the history is read in real time, before virtual time moves on
    const check = async () => (await s.inject('/v1/checks/fed')).body;
    expect(await run(30_000, async () => (await check()).limits?.source === 'learned' && (await check()).status === 'ok')).toBeDefined();
    const c = await check();
    expect(c.limits.expectedPerMinute).toBeGreaterThan(90);
    expect(c.limits.expectedPerMinute).toBeLessThan(150);

    // Phase 1: normal traffic for two full rate-drop windows and more: no page, the normal holds.
    await run(45_000);
    const normal = await check();
    expect(normal.status).toBe('ok');
    expect((await flips()).filter((f) => f.to === 'down')).toEqual([]);
    expect(normal.limits.expectedPerMinute).toBeGreaterThan(90); // fed per poll, the level would sink

    // Phase 2: a partial outage — 80% of the traffic is gone, the rest keeps the silence short.
    spacing = 2500;
    expect(await run(70_000, async () => (await flips()).some((f) => f.to === 'down')), 'paged within 70 s').toBeDefined();
    const down = (await flips()).find((f) => f.to === 'down')!;
    expect(down.reason).toMatch(/below normal/);
    expect((await check()).status).toBe('down');

    // Phase 3: traffic returns; the next normal window resolves it.
    spacing = 1000 / RATE;
    expect(await run(70_000, async () => (await check()).status === 'ok'), 'resolved within 70 s').toBeDefined();
  });
});
