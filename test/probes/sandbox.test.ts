import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { probeDriverConfigSchema } from '../../src/probes/config.ts';
import { createDriver } from '../../src/probes/registry.ts';
import { registerSandboxRoutes, sandboxOpenApiPaths } from '../../src/sandbox/routes.ts';
import { Sandbox, dayShape, localHour, type SandboxEvent } from '../../src/sandbox/sandbox.ts';
import { VirtualTime } from './helpers.ts';

/** Deterministic PRNG (mulberry32). */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PEAK = Date.UTC(2026, 10, 29, 16, 0, 0); // 16:00 UTC: the daily peak
const TROUGH = Date.UTC(2026, 10, 29, 4, 0, 0); // 04:00 UTC: the night trough

function setup(start = PEAK, extra: Partial<ConstructorParameters<typeof Sandbox>[0]> = {}) {
  const vt = new VirtualTime(start);
  const batches: SandboxEvent[][] = [];
  const sandbox = new Sandbox({
    clock: vt.clock,
    timers: vt,
    random: seeded(42),
    emit: (events) => batches.push(events),
    streams: [{ stream: 'card-auth', ratePerSec: 5, nightFactor: 0.1, attributes: { scheme: ['visa', 'mastercard'] } }],
    acquirerDelayMs: 1500,
    ...extra,
  });
  const events = () => batches.flat();
  const probeEvents = () => events().filter((e) => e.attributes?.probe_id);
  const traffic = () => events().filter((e) => !e.attributes?.probe_id);
  return { vt, sandbox, batches, events, probeEvents, traffic };
}

const chargeReq = (n: number) => ({ probeId: `probe-${n}`, idempotencyKey: `key-${n}`, amountMinor: 100, currency: 'eur', check: 'cards' });

describe('day/night shape (pure)', () => {
  it('is the night factor at 04:00 and 1 at 16:00 local', () => {
    expect(dayShape(4, 0.1)).toBeCloseTo(0.1);
    expect(dayShape(16, 0.1)).toBeCloseTo(1);
    expect(dayShape(10, 0.1)).toBeCloseTo(0.55);
  });
  it('uses the local hour of the configured time zone', () => {
    expect(localHour(Date.UTC(2026, 6, 1, 14, 30), 'Europe/Berlin')).toBeCloseTo(16.5);
    expect(localHour(Date.UTC(2026, 0, 1, 14, 30), 'Europe/Berlin')).toBeCloseTo(15.5);
  });
});

describe('Sandbox traffic generator', () => {
  it('emits Poisson traffic at the peak rate, in batches, from one timer', () => {
    const { vt, sandbox, batches, traffic } = setup();
    sandbox.start();
    let maxTimers = 0;
    for (let i = 0; i < 600; i++) {
      vt.advance(1000);
      maxTimers = Math.max(maxTimers, vt.pending());
    }
    const n = traffic().length; // 10 minutes at ~5/s near the peak
    expect(n).toBeGreaterThan(2700);
    expect(n).toBeLessThan(3300);
    expect(maxTimers).toBe(1);
    expect(batches.length).toBeLessThan(n); // batched, not one emit per event
    const times = traffic().map((e) => e.time!);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(new Set(traffic().map((e) => e.attributes!.scheme))).toEqual(new Set(['visa', 'mastercard']));
    expect(traffic()[0]).toMatchObject({ stream: 'card-auth', attributes: { card_token: expect.any(String), amount: expect.any(String) } });
  });

  it('follows the night shape: about a tenth of the traffic at 04:00', () => {
    const night = setup(TROUGH);
    night.sandbox.start();
    night.vt.advance(600_000);
    const n = night.traffic().length; // ~0.5/s -> ~300
    expect(n).toBeGreaterThan(200);
    expect(n).toBeLessThan(400);
    expect(night.sandbox.rateAt('card-auth', TROUGH)).toBeCloseTo(0.5);
  });
});

describe('Sandbox pipeline modes', () => {
  it('healthy: a probe charge is accepted and its transaction comes out after the acquirer delay', async () => {
    const { vt, sandbox, probeEvents } = setup();
    sandbox.start();
    const r = await sandbox.charge(chargeReq(1), { cardToken: 'tok_probe' });
    expect(r).toEqual({ outcome: 'accepted', reference: expect.stringMatching(/^sbx_ch_/) });
    vt.advance(1499);
    expect(probeEvents()).toHaveLength(0);
    vt.advance(1);
    expect(probeEvents()).toEqual([
      {
        stream: 'card-auth',
        time: PEAK + 1500,
        id: expect.stringMatching(/^sbx_tx_/),
        attributes: { probe_id: 'probe-1', card_token: 'tok_probe', amount: '100', currency: 'eur', scheme: 'visa', synthetic: 'true' },
      },
    ]);
  });

  it('quiet: real traffic stops but probe transactions still come through', async () => {
    const { vt, sandbox, traffic, probeEvents } = setup();
    sandbox.start();
    vt.advance(10_000);
    sandbox.setMode('quiet');
    const before = traffic().length;
    expect(before).toBeGreaterThan(0);
    await sandbox.charge(chargeReq(1));
    vt.advance(60_000);
    expect(traffic().length).toBe(before);
    expect(probeEvents().map((e) => e.attributes!.probe_id)).toEqual(['probe-1']);
    expect(vt.pending()).toBe(0); // no traffic timer while quiet
    sandbox.setMode('healthy');
    vt.advance(10_000);
    expect(traffic().length).toBeGreaterThan(before);
  });

  it('broken: swallows everything, though the acquirer accepts the charge', async () => {
    const { vt, sandbox, events } = setup();
    sandbox.start();
    sandbox.setMode('broken');
    const r = await sandbox.charge(chargeReq(1));
    expect(r.outcome).toBe('accepted');
    vt.advance(60_000);
    expect(events()).toHaveLength(0);
    expect(sandbox.stats()).toMatchObject({ mode: 'broken', charges: 1, probeTransactionsSwallowed: 1, probeTransactionsEmitted: 0 });
  });

  it('a probe in flight when the pipeline breaks is swallowed', async () => {
    const { vt, sandbox, probeEvents } = setup();
    await sandbox.charge(chargeReq(1));
    vt.advance(1000);
    sandbox.setMode('broken');
    vt.advance(1000);
    expect(probeEvents()).toHaveLength(0);
  });

  it('acquirer-down: charges are refused (a decline), nothing is emitted', async () => {
    const { vt, sandbox, events } = setup();
    sandbox.start();
    sandbox.setMode('acquirer-down');
    expect(sandbox.mode()).toBe('acquirer-down');
    await expect(sandbox.charge(chargeReq(1))).resolves.toEqual({ outcome: 'refused', code: 'acquirer_down', message: expect.any(String) });
    vt.advance(60_000);
    expect(events()).toHaveLength(0);
  });

  it('deduplicates charges by idempotency key like a real acquirer', async () => {
    const { vt, sandbox, probeEvents } = setup();
    const a = await sandbox.charge(chargeReq(1));
    const b = await sandbox.charge(chargeReq(1));
    expect(b).toEqual(a);
    vt.advance(5000);
    expect(probeEvents()).toHaveLength(1);
    expect(sandbox.stats().charges).toBe(1);
  });

  it('the sandbox driver from the registry charges the sandbox and can reverse', async () => {
    const { vt, sandbox, probeEvents } = setup();
    const driver = createDriver('sbx', probeDriverConfigSchema.parse({ type: 'sandbox', cardToken: 'tok_q' }), { sandbox });
    expect(driver.kind).toBe('sandbox');
    const r = await driver.charge(chargeReq(7));
    vt.advance(1500);
    expect(probeEvents()[0]!.attributes).toMatchObject({ probe_id: 'probe-7', card_token: 'tok_q' });
    await driver.reverse!({ ...chargeReq(7), reference: r.outcome === 'accepted' ? r.reference : undefined });
    expect(sandbox.stats().reversals).toBe(1);
    expect(() => createDriver('sbx', probeDriverConfigSchema.parse({ type: 'sandbox' }), {})).toThrow(/sandbox/);
  });

  it('stop() clears every timer', async () => {
    const { vt, sandbox } = setup();
    sandbox.start();
    await sandbox.charge(chargeReq(1));
    expect(vt.pending()).toBe(2);
    sandbox.stop();
    expect(vt.pending()).toBe(0);
  });
});

describe('sandbox routes', () => {
  async function app() {
    const { sandbox } = setup();
    const scopes: string[] = [];
    const f = Fastify();
    await registerSandboxRoutes(f, {
      sandbox,
      requireScope: (scope) => async (req, reply) => {
        scopes.push(scope);
        if (req.headers.authorization !== `Bearer ${scope}-token`) return reply.code(403).send({ error: 'forbidden' });
      },
    });
    return { f, sandbox, scopes };
  }

  it('GET shows the mode; POST switches it (admin scope)', async () => {
    const { f, sandbox, scopes } = await app();
    const get = await f.inject({ method: 'GET', url: '/v1/sandbox/pipeline', headers: { authorization: 'Bearer read-token' } });
    expect(get.statusCode).toBe(200);
    expect(get.json()).toMatchObject({ mode: 'healthy' });
    const post = await f.inject({ method: 'POST', url: '/v1/sandbox/pipeline', headers: { authorization: 'Bearer admin-token' }, payload: { mode: 'quiet' } });
    expect(post.statusCode).toBe(200);
    expect(post.json()).toEqual({ mode: 'quiet', previous: 'healthy' });
    expect(sandbox.mode()).toBe('quiet');
    expect(scopes).toEqual(['read', 'admin']);
    const denied = await f.inject({ method: 'POST', url: '/v1/sandbox/pipeline', headers: { authorization: 'Bearer read-token' }, payload: { mode: 'broken' } });
    expect(denied.statusCode).toBe(403);
    expect(sandbox.mode()).toBe('quiet');
    await f.close();
  });

  it('400 with the field on a bad mode', async () => {
    const { f } = await app();
    for (const payload of [{ mode: 'sideways' }, {}]) {
      const r = await f.inject({ method: 'POST', url: '/v1/sandbox/pipeline', headers: { authorization: 'Bearer admin-token' }, payload });
      expect(r.statusCode).toBe(400);
      expect(r.json()).toEqual({ error: 'bad_request', message: expect.stringContaining('healthy'), field: 'mode' });
    }
    await f.close();
  });

  it('exports OpenAPI path objects', () => {
    expect(Object.keys(sandboxOpenApiPaths['/v1/sandbox/pipeline'])).toEqual(['get', 'post']);
  });
});
