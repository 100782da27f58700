/**
 * Restart reconciliation (AlertEffects.reconcile): a check and its incident are written by two
 * write-behind stores, so a crash can leave an open incident beside a check state that is not down.
 * When the check's page deadline has already passed, the runtime flips it down on its first turn,
 * into the same incident: reconcile must not resolve it first (a resolve, then a second trigger).
 * When the deadline is still ahead, the incident is stale and is resolved.
 */
import { describe, expect, it } from 'vitest';
import { AlertEffects } from '../../src/alerts/effects.ts';
import type { AlertManager } from '../../src/alerts/manager.ts';
import type { CheckRuntime } from '../../src/checks/runtime.ts';
import { silentLogger } from '../../src/lib/logger.ts';

const NOW = Date.parse('2026-12-02T08:00:00Z');

function rig(pageAt: number | null) {
  const calls: string[] = [];
  const alerts = {
    downChecks: () => new Set(['cards']),
    checkDown: async (i: { check: string }) => void calls.push(`down ${i.check}`),
    checkRecovered: async (i: { check: string }) => void calls.push(`recovered ${i.check}`),
  } as unknown as AlertManager;
  const runtime = {
    names: () => ['cards'],
    state: () => ({ status: 'quiet', since: NOW - 5_000, lastEventAt: NOW - 10_000, watchFrom: NOW - 10_000 }),
    spec: () => ({ name: 'cards', labels: {} }),
    snapshot: () => ({ deadlines: { pageAt } }),
  } as unknown as CheckRuntime;
  const fx = new AlertEffects({ alerts, checks: [], clock: { now: () => NOW }, logger: silentLogger() });
  return { calls, run: () => fx.reconcile(runtime) };
}

describe('restart reconciliation', () => {
  it('keeps an open incident whose check is past its page deadline (it goes down again at once)', async () => {
    const r = rig(NOW - 1_000);
    await r.run();
    expect(r.calls).toEqual([]);
  });
  it('resolves an open incident whose check is not due to be down', async () => {
    const r = rig(NOW + 60_000);
    await r.run();
    expect(r.calls).toEqual(['recovered cards']);
  });
});
