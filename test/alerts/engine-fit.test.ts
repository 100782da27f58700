/** The engine's alert effect details can be handed to the AlertManager as they are. */
import { describe, expect, it } from 'vitest';
import type { AlertDetails } from '../../src/checks/types.ts';
import { normaliseDetails, type DetailsInput } from '../../src/alerts/manager.ts';

describe('normaliseDetails', () => {
  it('drops nulls, keeps known fields and moves the rest under extra', () => {
    const engine = {
      state: 'down',
      lastEventAt: null,
      silenceMs: 41_000,
      limits: { quietAfterMs: 30_000 },
      normal: '1 event every 0.8 s',
      probe: { id: 'p1', result: 'unproven' },
    } as unknown as AlertDetails;
    const input: DetailsInput = engine; // compiles: the engine's type fits
    expect(normaliseDetails('no events', 'down', input)).toEqual({
      reason: 'no events',
      state: 'down',
      silenceMs: 41_000,
      normal: '1 event every 0.8 s',
      probe: { id: 'p1', result: 'unproven' },
      extra: { limits: { quietAfterMs: 30_000 } },
    });
  });
  it('defaults the state and never lets details override the reason', () => {
    expect(normaliseDetails('r', 'ok', { reason: 'other' } as DetailsInput)).toEqual({ reason: 'r', state: 'ok' });
  });
});
