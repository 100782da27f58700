/**
 * An InfluxDB-fed check with learned limits starts from the measurement's own history: the service
 * seeds the model from InfluxDB at start, so limits are learned at once (not after a day of warm-up),
 * and the API (and the office screen's "normal") shows the expected rate.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/process.ts';
import { startService, type Running } from '../helpers/service.ts';
import { startInfluxd, type InfluxServer } from '../influx/server.ts';

let influx: InfluxServer;
let svc: Running | undefined;
const DB = 'pipeline';

beforeAll(async () => {
  influx = await startInfluxd();
  await influx.createDatabase(DB);
  // Eight days of history: one point every 30 s (2 a minute), ending now.
  // Eight days, not three: on a Saturday or Sunday the hour had no history of its own (weekend
  // buckets borrow little from the other days, by design) and the test failed at weekends only.
  const now = Date.now();
  const lines: string[] = [];
  for (let t = now - 8 * 86_400_000; t < now; t += 30_000) lines.push(`auths,host=a v=1 ${t}`);
  const res = await fetch(`${influx.url}/write?db=${DB}&precision=ms`, { method: 'POST', body: lines.join('\n') });
  expect(res.status).toBe(204);
}, 60_000);

afterAll(async () => {
  await svc?.close();
  await influx?.stop();
});

describe('learned limits seeded from InfluxDB history', () => {
  it('a fed check with auto limits is learned at start and shows its expected rate', async () => {
    svc = await startService(`
checks:
  - name: fed
    quietAfter: auto
    pageAfter: auto
    learn: { min: 5s, max: 1h }
    source: { type: influxdb, url: "${influx.url}", database: ${DB}, measurement: auths, field: v, where: { host: a }, pollInterval: 1s }
`);
    const c = await waitFor(async () => {
      const b = (await svc!.fetch('/v1/checks/fed')).body;
      return b.limits?.source === 'learned' ? b : undefined;
    }, 20_000);
    expect(c.limits.expectedPerMinute).toBeGreaterThan(1);
    expect(c.limits.expectedPerMinute).toBeLessThan(2.5);
    expect(c.limits.expectedGapMs).toBeGreaterThan(20_000);
    expect(c.limits.expectedGapMs).toBeLessThan(60_000);
    // Points every 30 s: a silence must last several gaps before it is unlikely, and stays within the bounds.
    expect(c.limits.quietAfterMs).toBeGreaterThan(60_000);
    expect(c.limits.pageAfterMs).toBeGreaterThan(c.limits.quietAfterMs);
    expect(c.limits.pageAfterMs).toBeLessThanOrEqual(3_600_000);
    // The newest point was read: the check is ok.
    await waitFor(async () => ((await svc!.fetch('/v1/checks/fed')).body.status === 'ok' ? true : undefined), 10_000);
  }, 40_000);
});
