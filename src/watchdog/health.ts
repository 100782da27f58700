/**
 * Component health for the watchdog, from the service's own parts. Each is small and answers
 * "could quietwatch still page right now?" for one part:
 * - loop: the check runtime acts on its deadlines (no check has a deadline that passed more than
 *   `graceMs` ago without being processed — a stuck timer or a blocked loop shows here);
 * - store: the store answers a ping;
 * - notifiers: the alert manager's own health (AlertManager.health(): no notifier failing, for good
 *   or still retrying, no page pending past `alerts.pendingPageAlarm`, the alert store writable),
 *   said by name and code only.
 */
import type { Clock } from '../lib/clock.ts';
import type { ComponentState, WatchdogHealth } from './index.ts';

/** What the loop check reads from the runtime (CheckRuntime.snapshots() fits). */
export interface LoopSource {
  snapshots(): ReadonlyArray<{ name: string; status: string; deadlines: { next: number | null } }>;
}

export function loopHealth(runtime: LoopSource, clock: Clock, graceMs = 10_000): ComponentState {
  const now = clock.now();
  const late = runtime.snapshots().filter((s) => s.status !== 'paused' && s.deadlines.next !== null && s.deadlines.next < now - graceMs);
  if (late.length === 0) return { ok: true };
  const worst = Math.max(...late.map((s) => now - s.deadlines.next!));
  return { ok: false, detail: `${late.length} check deadline(s) not acted on, the oldest ${Math.round(worst / 1000)} s overdue (${late.slice(0, 3).map((s) => s.name).join(', ')})` };
}

export async function storeHealth(store: { ping(): Promise<void> }): Promise<ComponentState> {
  try {
    await store.ping();
    return { ok: true };
  } catch (err) {
    return { ok: false, detail: `store does not answer: ${(err as Error)?.message ?? String(err)}` };
  }
}

/** What the notifier check reads (AlertManager.health() fits). */
export interface NotifierHealthSource {
  health(): Promise<{
    ok: boolean;
    degraded?: readonly string[];
    permanentFailures: ReadonlyArray<{ notifier: string; code: string }>;
    failingNotifiers?: ReadonlyArray<{ notifier: string; code: string; attempts: number }>;
    pendingPages: number;
    oldestPendingPageMs?: number;
  }>;
}

export async function notifierHealth(alerts: NotifierHealthSource): Promise<ComponentState> {
  try {
    const h = await alerts.health();
    if (h.ok) return { ok: true, ...(h.pendingPages > 0 ? { detail: `${h.pendingPages} page(s) being delivered` } : {}) };
    // Codes and notifier names only: a receiver's message might echo a key. Say what is wrong:
    // failing for good, still retrying (a 503, timeouts), pages late, the alert store.
    const parts: string[] = [];
    if (h.permanentFailures.length) parts.push(`failing permanently: ${h.permanentFailures.map((f) => `${f.notifier} (${f.code})`).join(', ')}`);
    const retrying = (h.failingNotifiers ?? []).filter((f) => !h.permanentFailures.some((p) => p.notifier === f.notifier));
    if (retrying.length) parts.push(`retrying: ${retrying.map((f) => `${f.notifier} (${f.code}, ${f.attempts} attempt${f.attempts === 1 ? '' : 's'})`).join(', ')}`);
    if (h.degraded?.includes('pages-late')) parts.push(`${h.pendingPages} page(s) pending${h.oldestPendingPageMs ? ` for ${Math.round(h.oldestPendingPageMs / 1000)} s` : ''}`);
    if (h.degraded?.includes('store')) parts.push('the alert store cannot be written (pages kept in memory)');
    return { ok: false, detail: parts.join('; ') || `degraded: ${(h.degraded ?? []).join(', ') || 'unknown'}` };
  } catch (err) {
    return { ok: false, detail: `alert store does not answer: ${(err as Error)?.message ?? String(err)}` };
  }
}

/** The three together, read concurrently. */
export function serviceHealth(parts: { runtime: LoopSource; store: { ping(): Promise<void> }; alerts: NotifierHealthSource; clock: Clock; loopGraceMs?: number }): () => Promise<WatchdogHealth> {
  return async () => {
    const [store, notifiers] = await Promise.all([storeHealth(parts.store), notifierHealth(parts.alerts)]);
    return { loop: loopHealth(parts.runtime, parts.clock, parts.loopGraceMs), store, notifiers };
  };
}
