/**
 * The deadman switch never dies because one effect failed. In turn, the probe store, the alert store
 * and the metrics sink throw on every call (after start-up): the real service keeps running and
 * answering, the check still pages PagerDuty (a contract server), and the failure is logged with the
 * check, counted in /metrics and shown in /readyz.
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { startPagerDutyContract } from '../contract/pagerduty.ts';
import { waitFor } from '../helpers/process.ts';
import { startService } from '../helpers/service.ts';
import { createLogger } from '../../src/lib/logger.ts';

const ROUTING_KEY = 'R0123456789abcdef0123456789abcde';
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A proxy whose methods throw once `armed` is set (start-up itself must work). */
function failing<T extends object>(target: T, what: string, state: { armed: boolean }): T {
  return new Proxy(target, {
    get(t, prop, recv) {
      const v = Reflect.get(t, prop, recv);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (state.armed) throw new Error(`${what} unavailable (injected): ${String(prop)}`);
        return v.apply(t, args);
      };
    },
  });
}

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { lines, logger: createLogger({ level: 'info', destination: dest }) };
}

const yaml = (pdUrl: string) => `
probes:
  drivers:
    acq: { type: sandbox }
  budget: { perHour: 100, perDay: 1000 }
sandbox: { enabled: true, mode: broken, streams: [] }
alerts:
  notifiers:
    pager: { type: pagerduty, routingKey: "${ROUTING_KEY}", eventsUrl: "${pdUrl}", timeoutMs: 1000 }
  routes: { default: { page: [pager] } }
  retry: { minDelay: 50ms, maxDelay: 200ms }
checks:
  - name: cards
    quietAfter: 300ms
    pageAfter: 1500ms
    probe: { driver: acq, amount: 100, currency: gbp, timeout: 1s }
`;

type Which = 'probeStore' | 'alertStore' | 'sink';

async function scenario(which: Which) {
  const pd = await startPagerDutyContract({ validKeys: [ROUTING_KEY] });
  cleanups.push(() => pd.close());
  const state = { armed: false };
  const { lines, logger } = capture();
  const s = await startService(yaml(pd.url), {
    logger,
    wrap: { [which]: (x: object) => failing(x, which, state) } as never,
  });
  cleanups.push(() => s.close());
  state.armed = true;
  const ping = await s.fetch('/v1/streams/cards/ping', { method: 'POST' });
  expect(ping.status).toBe(202);
  // The check goes quiet (a probe fires, or would), then down: PagerDuty gets the page.
  await waitFor(() => (pd.events.some((e) => e.event_action === 'trigger') ? true : undefined), 10_000);
  const health = await s.fetch('/healthz');
  expect(health.status).toBe(200);
  return { pd, s, lines, state };
}

describe('an effect handler that fails never stops the service', () => {
  it('the probe store throws: the probe fails, the check still pages, the failure is logged, counted and in /readyz', async () => {
    const { s, lines } = await scenario('probeStore');
    const failed = lines.find((l) => l.effect === 'fire-probe' && l.handler === 'probes' && l.check === 'cards');
    expect(failed, 'a log line naming the effect, the handler and the check').toBeDefined();
    expect(String(failed!.msg)).toMatch(/fire-probe failed in probes for check cards/);
    const ready = await s.fetch('/readyz');
    expect(ready.body.degraded).toContain('effects');
    const metrics = await s.fetch('/metrics');
    expect(metrics.body).toMatch(/quietwatch_effect_failures_total\{effect="fire-probe",handler="probes"\} [1-9]/);
  });

  it('the alert store throws: the page still reaches PagerDuty, and the failure shows', async () => {
    const { s } = await scenario('alertStore');
    const ready = await s.fetch('/readyz');
    expect(ready.body.degraded).toContain('alerts');
    expect(ready.body.components.alerts.detail.degraded).toContain('store');
  });

  it('the metrics sink throws: ingest still answers 202, the check still pages, flips are counted as failed effects', async () => {
    const { s, lines } = await scenario('sink');
    expect(lines.some((l) => l.effect === 'flip' && l.handler === 'metrics')).toBe(true);
    const ready = await s.fetch('/readyz');
    expect(ready.body.degraded).toContain('effects');
    // Another batch is still accepted (stored is accepted, whatever the metrics do).
    expect((await s.fetch('/v1/streams/cards/ping', { method: 'POST' })).status).toBe(202);
  });
});
