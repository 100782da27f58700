/**
 * The probe half of the loop on one machine: ProbeManager + sandbox driver + Sandbox, with the
 * test playing the engine's part (match the event by probe id, call proven / lost).
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { checkProbeSchema, probeDriverConfigSchema } from '../../src/probes/config.ts';
import { ProbeManager, type ProbeReport } from '../../src/probes/manager.ts';
import { createDrivers, driverFactories, type DriverFactories } from '../../src/probes/registry.ts';
import { SqliteProbeStore } from '../../src/probes/store-sqlite.ts';
import { Sandbox, type SandboxEvent } from '../../src/sandbox/sandbox.ts';
import { VirtualTime } from './helpers.ts';

function loop() {
  const vt = new VirtualTime(Date.UTC(2026, 10, 29, 16));
  const events: SandboxEvent[] = [];
  const sandbox = new Sandbox({ clock: vt.clock, timers: vt, emit: (e) => events.push(...e), streams: [{ stream: 'card-auth', ratePerSec: 2 }], acquirerDelayMs: 3000 });
  const db = new Database(':memory:');
  const reports: [string, ProbeReport][] = [];
  const drivers = createDrivers({ sbx: probeDriverConfigSchema.parse({ type: 'sandbox' }) }, { sandbox });
  const manager = new ProbeManager({
    store: new SqliteProbeStore(db),
    drivers,
    globalBudget: { perHour: 10, perDay: 100 },
    clock: vt.clock,
    onResult: (id, r) => reports.push([id, r]),
    sleep: vt.sleep,
  });
  const options = checkProbeSchema.parse({ driver: 'sbx', amount: 100, currency: 'eur', timeout: '30s' });
  return { vt, sandbox, events, manager, reports, options, db };
}

describe('probe loop through the sandbox', () => {
  it('quiet: the probe transaction comes out, proves the probe with the acquirer delay as latency, and is reversed', async () => {
    const { vt, sandbox, events, manager, options, reports } = loop();
    sandbox.start();
    sandbox.setMode('quiet');
    const rec = await manager.fire({ check: 'cards', probeId: 'pq1', reason: 'quiet', deadline: vt.clock.now() + options.timeout, options, stream: 'card-auth' });
    expect(rec!.result).toBe('accepted');
    expect(reports).toEqual([['pq1', { check: 'cards', result: 'accepted', reference: rec!.reference }]]);
    vt.advance(5000);
    const proving = events.filter((e) => e.attributes?.probe_id === 'pq1');
    expect(proving).toHaveLength(1);
    expect(proving[0]).toMatchObject({ stream: 'card-auth', time: rec!.chargedAt! + 3000 });
    const proven = await manager.proven('pq1', proving[0]!.time!);
    expect(proven).toMatchObject({ result: 'proven', latencyMs: 3000 });
    await manager.idle();
    expect(sandbox.stats().reversals).toBe(1);
  });

  it('broken: nothing comes out; the engine declares the probe lost at the deadline', async () => {
    const { vt, sandbox, events, manager, options } = loop();
    sandbox.setMode('broken');
    await manager.fire({ check: 'cards', probeId: 'pb1', reason: 'quiet', deadline: vt.clock.now() + options.timeout, options });
    vt.advance(options.timeout);
    expect(events.filter((e) => e.attributes?.probe_id === 'pb1')).toHaveLength(0);
    expect(await manager.lost('pb1', vt.clock.now())).toMatchObject({ result: 'lost' });
  });

  it('acquirer-down: the probe is refused (warning, not a page)', async () => {
    const { vt, sandbox, manager, options, reports } = loop();
    sandbox.setMode('acquirer-down');
    const rec = await manager.fire({ check: 'cards', probeId: 'pd1', reason: 'quiet', deadline: vt.clock.now() + options.timeout, options });
    expect(rec).toMatchObject({ result: 'refused', costMinor: 0 });
    expect(reports[0]![1]).toMatchObject({ result: 'refused', code: 'acquirer_down' });
  });
});

describe('registry', () => {
  it('has a factory for every kind (a missing one does not compile)', () => {
    expect(Object.keys(driverFactories).sort()).toEqual(['http', 'sandbox', 'stripe']);
    // @ts-expect-error -- the sandbox kind is not wired
    const partial: DriverFactories = { http: driverFactories.http, stripe: driverFactories.stripe };
    expect(partial).toBeDefined();
  });
});
