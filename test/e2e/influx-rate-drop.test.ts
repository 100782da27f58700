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
import { waitFor } from '../helpers/process.ts';
import { startService, type Running } from '../helpers/service.ts';
import { startInfluxd, type InfluxServer } from '../influx/server.ts';

let influx: InfluxServer;
let svc: Running | undefined;
let writer: NodeJS.Timeout | undefined;
const DB = 'pipeline';
const RATE = 2; // points per second

async function write(lines: string[]): Promise<void> {
  for (let i = 0; i < lines.length; i += 20_000) {
    const res = await fetch(`${influx.url}/write?db=${DB}&precision=ms`, { method: 'POST', body: lines.slice(i, i + 20_000).join('\n') });
    if (res.status !== 204) throw new Error(`write failed ${res.status}: ${await res.text()}`);
  }
}

/** Live traffic: one point every `spacingMs`, on a regular grid, written every 250 ms. */
function live(spacingMs: number, from = Math.ceil(Date.now() / spacingMs) * spacingMs): void {
  if (writer) clearInterval(writer);
  let next = from;
  writer = setInterval(() => {
    const lines: string[] = [];
    for (const now = Date.now(); next <= now; next += spacingMs) lines.push(`auths,host=a v=1 ${next}`);
    if (lines.length) void write(lines).catch(() => {});
  }, 250);
}

beforeAll(async () => {
  influx = await startInfluxd();
  await influx.createDatabase(DB);
  // Three days of history at 2 a second (Poisson), ending now: every hour of the day seen more than once.
  const rnd = prng(3);
  const lines: string[] = [];
  const now = Date.now();
  for (let t = now - 3 * 86_400_000; t < now; t += -Math.log(1 - rnd()) * (1000 / RATE)) lines.push(`auths,host=a v=1 ${Math.floor(t)}`);
  await write(lines);
}, 120_000);

afterAll(async () => {
  if (writer) clearInterval(writer);
  await svc?.close();
  await influx?.stop();
});

const flips = async () => ((await svc!.fetch('/v1/checks/fed?flips=100')).body.flips as Array<{ from: string; to: string; reason: string }>) ?? [];

describe('rate-drop on an InfluxDB-fed check (points counted per poll)', () => {
  it('stays quiet on normal traffic polled in batches, pages an 80% drop, resolves when traffic returns', async () => {
    live(1000 / RATE);
    svc = await startService(`
checks:
  - name: fed
    quietAfter: auto
    pageAfter: auto
    learn: { min: 5s, max: 1h, warmup: 1h, rateDrop: { window: 20s, minDrop: 0.7, falseAlarms: 1/year } }
    source: { type: influxdb, url: "${influx.url}", database: ${DB}, measurement: auths, field: v, where: { host: a }, pollInterval: 2s, countDelay: 1s }
`);
    const c = await waitFor(async () => {
      const b = (await svc!.fetch('/v1/checks/fed')).body;
      return b.limits?.source === 'learned' && b.status === 'ok' ? b : undefined;
    }, 30_000);
    expect(c.limits.expectedPerMinute).toBeGreaterThan(90);
    expect(c.limits.expectedPerMinute).toBeLessThan(150);

    // Phase 1: normal traffic for two full rate-drop windows and more: no page, the normal holds.
    await new Promise((r) => setTimeout(r, 45_000));
    const normal = (await svc.fetch('/v1/checks/fed')).body;
    expect(normal.status).toBe('ok');
    expect((await flips()).filter((f) => f.to === 'down')).toEqual([]);
    expect(normal.limits.expectedPerMinute).toBeGreaterThan(90); // fed per poll, the level would sink

    // Phase 2: a partial outage — 80% of the traffic is gone, the rest keeps the silence short.
    live(2500);
    const down = await waitFor(async () => (await flips()).find((f) => f.to === 'down'), 70_000, 500);
    expect(down.reason).toMatch(/below normal/);
    expect((await svc.fetch('/v1/checks/fed')).body.status).toBe('down');

    // Phase 3: traffic returns; the next normal window resolves it.
    live(1000 / RATE);
    await waitFor(async () => ((await svc!.fetch('/v1/checks/fed')).body.status === 'ok' ? true : undefined), 70_000, 500);
  }, 240_000);
});
