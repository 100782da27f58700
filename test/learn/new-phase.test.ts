/**
 * A learned check that never received an event is "new" (Healthchecks' state of that name):
 * silence alone does not page it until its first event, GET /v1/checks/{name} says so
 * (`learning.phase`), and /readyz names it as a warning. A fixed pageAfter is unchanged.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { LearningService } from '../../src/learn/service.ts';
import type { LearnStore } from '../../src/learn/store-sqlite.ts';
import { initialState, nextDue, step } from '../../src/checks/engine.ts';

const T0 = Date.UTC(2026, 0, 5, 9);

const config = parseConfig(`
checks:
  - { name: fresh, quietAfter: auto, pageAfter: auto, learn: { min: 2s, max: 10m } }
  - { name: fixed-page, quietAfter: auto, pageAfter: 30m, learn: { min: 2s, max: 10m } }
  - { name: seen, quietAfter: auto, pageAfter: auto, learn: { min: 2s, max: 10m } }
  - { name: plain, quietAfter: 1m, pageAfter: 5m }
`);

const store: LearnStore = { load: async () => null, save: async () => {}, delete: async () => {}, list: async () => [] } as unknown as LearnStore;
const logger = { info() {}, warn() {}, error() {}, debug() {}, child() { return logger; } } as never;

async function service() {
  return LearningService.create(config.checks, { store, clock: { now: () => T0 }, logger, apply: async () => undefined, rateLow: () => false });
}

describe('a learned check that never received an event', () => {
  it('is phase new in the API and named by /readyz; its first event ends the phase', async () => {
    const { learning, specs } = await service();
    learning.observer('seen')!(T0 - 1000);
    expect(learning.details('fresh')).toMatchObject({ learning: { phase: 'new', firstEventAt: null } });
    expect(learning.details('seen')).toMatchObject({ learning: { phase: 'warm-up', firstEventAt: T0 - 1000 } });
    // A fixed pageAfter pages as before: not "new" in this sense.
    expect(learning.details('fixed-page')).toMatchObject({ learning: { phase: 'warm-up' } });
    expect(learning.newChecks()).toEqual(['fresh']);
    expect(learning.readiness()).toEqual({
      learning: { ok: true, detail: { warning: expect.stringMatching(/^checks that never received an event: fresh /), checks: ['fresh'], count: 1 } },
    });
    learning.observer('fresh')!(T0);
    expect(learning.readiness()).toEqual({});
    expect(specs.get('plain')!.limits).toBeUndefined();
  });

  it('the engine warns at the quiet bound and never pages on silence alone; a fixed pageAfter still pages', async () => {
    const { specs } = await service();
    const ctx = (now: number) => ({ now, newProbeId: () => 'p1' });
    const fresh = specs.get('fresh')!;
    let s = initialState(T0);
    const r = step(fresh, s, { kind: 'tick' }, ctx(T0 + 30 * 86_400_000));
    s = r.state;
    expect(s.status).toBe('quiet');
    expect(r.effects.filter((e) => e.type === 'alert').map((e) => (e as { kind: string }).kind)).toEqual(['warning']);
    expect(nextDue(fresh, s)?.at ?? Infinity).toBe(Infinity);
    const fixed = specs.get('fixed-page')!;
    expect(step(fixed, initialState(T0), { kind: 'tick' }, ctx(T0 + 31 * 60_000)).state.status).toBe('down');
  });
});
