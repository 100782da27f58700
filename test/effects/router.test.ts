import { describe, expect, it } from 'vitest';
import type { CheckSpec, CheckState, Effect } from '../../src/checks/types.ts';
import { initialState } from '../../src/checks/engine.ts';
import { EffectRouter, type EffectHandlers, type EffectFailure } from '../../src/effects/router.ts';
import { silentLogger } from '../../src/lib/logger.ts';

const spec: CheckSpec = { name: 'cards', stream: 'cards', match: {}, quietAfterMs: 1000, pageAfterMs: 2000, labels: {} };
const state: CheckState = initialState(0);
const flip: Effect = { type: 'flip', check: 'cards', from: 'ok', to: 'down', at: 5, reason: 'no events' };
const fire: Effect = { type: 'fire-probe', check: 'cards', probeId: 'pr_1', reason: 'quiet', at: 5, deadline: 10 };

const none = (): EffectHandlers => ({ flip: [], 'fire-probe': [], 'probe-proven': [], 'probe-lost': [], alert: [] });

describe('EffectRouter', () => {
  it('hands each effect to every handler of its type, and only those', () => {
    const seen: string[] = [];
    const r = new EffectRouter(
      { ...none(), flip: [{ name: 'metrics', handle: (e) => void seen.push(`metrics:${e.to}`) }, { name: 'board', handle: (e) => void seen.push(`board:${e.from}`) }], 'fire-probe': [{ name: 'probes', handle: (e) => void seen.push(`probes:${e.probeId}`) }] },
      { logger: silentLogger(), now: () => 100 },
    );
    r.dispatch(flip, { spec, state });
    r.dispatch(fire, { spec, state });
    expect(seen).toEqual(['metrics:down', 'board:ok', 'probes:pr_1']);
    expect(r.health()).toEqual({ ok: true, failures: 0, byHandler: {} });
  });

  it('catches a throwing and a rejecting handler, runs the others, counts and reports both', async () => {
    const failures: EffectFailure[] = [];
    const ran: string[] = [];
    let now = 1_000;
    const r = new EffectRouter(
      {
        ...none(),
        flip: [
          { name: 'metrics', handle: () => { throw new Error('sink broke'); } },
          { name: 'after', handle: () => void ran.push('after') },
        ],
        'fire-probe': [{ name: 'probes', handle: async () => { throw new Error('no such table: probes'); } }],
      },
      { logger: silentLogger(), now: () => now, onFailure: (f) => failures.push(f), degradedForMs: 60_000 },
    );
    r.dispatch(flip, { spec, state });
    r.dispatch(fire, { spec, state });
    await r.drain();
    expect(ran).toEqual(['after']);
    expect(failures.map((f) => [f.effect, f.handler, f.check, f.message])).toEqual([
      ['flip', 'metrics', 'cards', 'sink broke'],
      ['fire-probe', 'probes', 'cards', 'no such table: probes'],
    ]);
    const h = r.health();
    expect(h.ok).toBe(false);
    expect(h.failures).toBe(2);
    expect(h.byHandler).toEqual({ 'flip/metrics': 1, 'fire-probe/probes': 1 });
    // A failure older than degradedForMs no longer degrades readiness; the count stays.
    now += 60_001;
    expect(r.health().ok).toBe(true);
    expect(r.health().failures).toBe(2);
  });

  it('a throwing onFailure hook does not reach the caller', () => {
    const r = new EffectRouter({ ...none(), flip: [{ name: 'metrics', handle: () => { throw new Error('x'); } }] }, { logger: silentLogger(), now: () => 0, onFailure: () => { throw new Error('hook'); } });
    expect(() => r.dispatch(flip, { spec, state })).not.toThrow();
  });

  it('the handler map must name every effect type (checked by npm run typecheck)', () => {
    // @ts-expect-error -- no entry for 'alert': a new or forgotten effect type fails to compile
    const partial: EffectHandlers = { flip: [], 'fire-probe': [], 'probe-proven': [], 'probe-lost': [] };
    expect(Object.keys(partial)).toHaveLength(4);
  });
});
