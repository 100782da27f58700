/**
 * Schedule checks and job runs through the real service, in virtual time: the config, the ping API
 * (`?state=start|success|fail&run=ID`), the runtime's timer and the stored flips.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.ts';
import { startService, type Running } from '../helpers/service.ts';
import { useVirtualTime, type VirtualTime } from '../helpers/virtual-time.ts';

let svc: Running | undefined;
let vt: VirtualTime | undefined;
afterEach(async () => {
  await svc?.close();
  svc = undefined;
  vt?.restore();
});

const yaml = `
checks:
  - name: settlement
    schedule: { cron: "30 5 * * 1-5", timezone: Europe/London, grace: 1h }
    labels: { team: finance-ops }
  - name: batch
    quietAfter: 2h
    pageAfter: 26h
    maxRuntime: 10m
`;

describe('schedule checks in the service', () => {
  it('is late at the slot and down after grace; GET /v1/checks shows the next slot', async () => {
    // half an hour before Tuesday's slot: the ping does not count for it (it is for Monday's, late)
    vt = useVirtualTime(Date.parse('2026-12-01T05:00:00Z'));
    svc = await startService(yaml);
    const s = svc;
    expect((await s.inject('/v1/streams/settlement/ping', { method: 'POST' })).status).toBe(202);
    const c = (await s.inject('/v1/checks/settlement')).body;
    expect(c.status).toBe('ok');
    expect(c.limits).toMatchObject({ source: 'schedule', nextSlotAt: Date.parse('2026-12-01T05:30:00Z'), graceMs: 3_600_000, schedule: '30 5 * * 1-5 (Europe/London)' });
    expect(c.deadlines.quietAt).toBe(Date.parse('2026-12-01T05:30:00Z'));
    expect(c.deadlines.pageAt).toBe(Date.parse('2026-12-01T06:30:00Z'));
    await vt.advance(Date.parse('2026-12-01T06:31:00Z') - vt.now(), 3_600_000);
    const flips = (await s.inject('/v1/checks/settlement?flips=10')).body.flips as Array<{ to: string; at: number }>;
    expect(flips.filter((f) => f.to === 'quiet' || f.to === 'down').map((f) => [f.to, new Date(f.at).toISOString()]).reverse()).toEqual([
      ['quiet', '2026-12-01T05:30:00.000Z'],
      ['down', '2026-12-01T06:30:00.000Z'],
    ]);
    // The file arrives late: ok again.
    await s.inject('/v1/streams/settlement/ping', { method: 'POST' });
    expect((await s.inject('/v1/checks/settlement')).body.status).toBe('ok');
  }); // 91 virtual minutes: every periodic timer of the service runs on the way (was 25 h: 3 s idle, 90 s on a loaded machine)

  it('runs: start then no success within maxRuntime is down; fail is down at once with the body; success resolves', async () => {
    vt = useVirtualTime(Date.parse('2026-12-01T02:00:00Z'));
    svc = await startService(yaml);
    const s = svc;
    const ping = (q: string, body?: string) => s.inject(`/v1/streams/batch/ping${q}`, { method: 'POST', ...(body !== undefined ? { body } : {}) });
    expect((await ping('')).status).toBe(202);
    expect((await ping('?state=start&run=nightly-1')).status).toBe(202);
    await vt.advance(11 * 60_000, 30_000);
    let c = (await s.inject('/v1/checks/batch?flips=5')).body;
    expect(c.status).toBe('down');
    expect(c.flips[0].reason).toMatch(/^run nightly-1 started at 2026-12-01T02:00:00.000Z has not succeeded within 10m/);
    expect((await ping('?state=success&run=nightly-1')).status).toBe(202);
    expect((await s.inject('/v1/checks/batch')).body.status).toBe('ok');

    expect((await ping('?state=fail&run=nightly-2', JSON.stringify({ reason: 'exit 3: settlement-20261201.csv not found' }))).status).toBe(202);
    c = (await s.inject('/v1/checks/batch?flips=5')).body;
    expect(c.status).toBe('down');
    expect(c.flips[0].reason).toBe('run nightly-2 failed: exit 3: settlement-20261201.csv not found');
  });

  it('bad run pings are 400s naming the field', async () => {
    vt = useVirtualTime();
    svc = await startService(yaml);
    const bad = async (q: string) => (await svc!.inject(`/v1/streams/batch/ping${q}`, { method: 'POST' })).body;
    expect(await bad('?state=finished')).toMatchObject({ error: 'bad_request', field: 'state' });
    expect(await bad('?state=start&state=fail')).toMatchObject({ field: 'state' });
    expect(await bad('?state=start&run=%20bad')).toMatchObject({ field: 'run' });
  });
});

describe('schedule config', () => {
  const problems = (y: string) => {
    try {
      parseConfig(y, '<t>', {});
      return [];
    } catch (e) {
      return (e as ConfigError).problems;
    }
  };
  it('rejects a bad cron expression, a bad time zone, and limits beside a schedule', () => {
    expect(problems('checks: [{name: a, schedule: {cron: "61 5 * * *", grace: 1h}}]')[0]).toMatch(/^checks\[0\]\.schedule\.cron is not a cron expression/);
    expect(problems('checks: [{name: a, schedule: {cron: "30 5 * * *", timezone: Europe/Londn, grace: 1h}}]')).toEqual(['checks[0].schedule.timezone is not an IANA time zone (e.g. Europe/London): Europe/Londn']);
    expect(problems('checks: [{name: a, quietAfter: 1h, schedule: {cron: "30 5 * * *", grace: 1h}}]')[0]).toMatch(/^checks\[0\]\.quietAfter cannot be combined with schedule/);
    expect(problems('checks: [{name: a}]')).toEqual(['checks[0].quietAfter is required (or give a schedule)', 'checks[0].pageAfter is required (or give a schedule)']);
  });
});
