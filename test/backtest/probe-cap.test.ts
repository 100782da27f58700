/**
 * The hard cap on quiet-triggered probes (engine `probe.quietPerDay`, set by the service from
 * `learn.probeShare x probe.budget.perDay`): never more in any rolling 24 h, in the service's
 * engine and so in the backtest. A quiet spell beyond it fires no probe (a confirm probe decides at the page limit)
 * and says so once a day.
 */
import { describe, expect, it } from 'vitest';
import { initialState, step } from '../../src/checks/engine.ts';
import type { CheckSpec, CheckState, Effect } from '../../src/checks/types.ts';
import { specFor } from '../../src/checks/spec.ts';
import { parseConfig } from '../../src/config/load.ts';
import { maxInWindow, runBacktest } from '../../src/backtest/run.ts';
import { partialDrop } from '../../src/backtest/synthetic.ts';
import { parseLearnConfig } from '../../src/learn/config.ts';
import { specLimits } from '../../src/learn/spec.ts';

const MIN = 60_000;
const H = 60 * MIN;
const T0 = Date.UTC(2026, 0, 5);
/** Quiet after 50 minutes: one quiet spell an hour between hourly events. */
const Q = 50 * MIN;

describe('quiet-triggered probes never exceed their share of the budget in a rolling day', () => {
  const spec: CheckSpec = { name: 'c', stream: 'c', match: {}, labels: {}, quietAfterMs: Q, pageAfterMs: 10 * H, probe: { timeoutMs: 30_000, backoffFactor: 1, backoffMaxMs: MIN, quietPerDay: 3 } };
  let n = 0;
  const run = (s: CheckState, now: number, input: Parameters<typeof step>[2]) => step(spec, s, input, { now, newProbeId: () => `p${++n}` });

  it('fires at most quietPerDay in any 24 h; beyond, one budget warning a day and no probe', () => {
    let s = initialState(T0);
    const fired: number[] = [];
    const warnings: Effect[] = [];
    // An event every hour and a quiet spell 50 minutes after each, its probe proved 10 s after it fired.
    for (let h = 0; h < 30; h++) {
      const at = T0 + h * H;
      s = run(s, at, { kind: 'event', at, time: at }).state;
      const r = run(s, at + Q, { kind: 'tick' });
      s = r.state;
      for (const e of r.effects) {
        if (e.type === 'fire-probe') {
          fired.push(e.at);
          s = run(s, e.at + 10_000, { kind: 'event', at: e.at + 10_000, time: e.at + 10_000, probeId: e.probeId }).state;
        }
        if (e.type === 'alert' && e.kind === 'warning') warnings.push(e);
      }
    }
    expect(fired).toEqual([0, 1, 2, 24, 25, 26].map((h) => T0 + h * H + Q));
    expect(maxInWindow(fired, 24 * H)).toBe(3);
    // Stopped from 03:50 to 23:50 and again from 27:50: said at 03:50 and at 27:50 (a day later).
    expect(warnings.map((w) => (w as { at: number }).at)).toEqual([T0 + 3 * H + Q, T0 + 27 * H + Q]);
    expect(warnings.every((w) => w.type === 'alert' && w.warning === 'budget')).toBe(true);
  });

  it('beyond the cap a spell that reaches the page limit is confirmed by one probe before paging: proven -> ok, lost -> down at its deadline', () => {
    const capped: CheckSpec = { ...spec, pageAfterMs: 2 * H, probe: { ...spec.probe!, quietPerDay: 1 } };
    let k = 0;
    const go = (s: CheckState, now: number, input: Parameters<typeof step>[2]) => step(capped, s, input, { now, newProbeId: () => `c${++k}` });
    const ev = (s: CheckState, at: number, probeId?: string) => go(s, at, { kind: 'event', at, time: at, ...(probeId ? { probeId } : {}) }).state;
    // spell 1: its quiet probe (the day's one), proven
    let s = ev(initialState(T0), T0);
    let r = go(s, T0 + Q, { kind: 'tick' });
    const first = r.effects.find((e) => e.type === 'fire-probe') as Extract<Effect, { type: 'fire-probe' }>;
    expect(first.reason).toBe('quiet');
    s = ev(r.state, T0 + Q + 10_000, first.probeId);
    // spell 2, same day: no quiet probe; at the page limit a confirm probe instead of a page
    const t2 = T0 + 3 * H;
    s = ev(s, t2);
    r = go(s, t2 + Q, { kind: 'tick' });
    expect(r.effects.filter((e) => e.type === 'fire-probe')).toEqual([]);
    r = go(r.state, t2 + 2 * H, { kind: 'tick' });
    const confirm = r.effects.find((e) => e.type === 'fire-probe') as Extract<Effect, { type: 'fire-probe' }>;
    expect(confirm).toMatchObject({ reason: 'confirm', at: t2 + 2 * H });
    expect(r.effects.filter((e) => e.type === 'flip' && e.to === 'down')).toEqual([]);
    // proven: ok, never down
    const proven = go(r.state, t2 + 2 * H + 5_000, { kind: 'event', at: t2 + 2 * H + 5_000, time: t2 + 2 * H + 5_000, probeId: confirm.probeId });
    expect(proven.state.status).toBe('ok');
    // lost (accepted, nothing comes): down at the probe deadline, its reason naming the probe
    let lost = go(r.state, t2 + 2 * H + 1_000, { kind: 'probe-result', probeId: confirm.probeId, result: 'accepted' });
    lost = go(lost.state, t2 + 2 * H + 30_000, { kind: 'tick' });
    const down = lost.effects.find((e) => e.type === 'flip' && e.to === 'down') as Extract<Effect, { type: 'flip' }>;
    expect(down).toMatchObject({ at: t2 + 2 * H + 30_000 });
    expect(down.reason).toMatch(/^probe c\d+ lost/);
    // refused (budget): down at once, no second confirm
    const refused = go(r.state, t2 + 2 * H + 1_000, { kind: 'probe-result', probeId: confirm.probeId, result: 'budget' });
    expect(refused.effects.filter((e) => e.type === 'fire-probe')).toEqual([]);
    expect(refused.effects.some((e) => e.type === 'flip' && e.to === 'down')).toBe(true);
  });

  it('the service sets it from learn.probeShare x probe.budget.perDay for a learned quiet limit only', () => {
    const cfg = parseConfig(`
probes: { drivers: { acq: { type: sandbox } } }
checks:
  - { name: a, quietAfter: auto, pageAfter: auto, learn: { min: 2s, max: 1h }, probe: { driver: acq, budget: { perDay: 48 } } }
  - { name: b, quietAfter: 1m, pageAfter: auto, learn: { min: 2s, max: 1h }, probe: { driver: acq } }
  - { name: c, quietAfter: auto, pageAfter: auto, learn: { min: 2s, max: 1h, probeShare: 0 }, probe: { driver: acq } }
`);
    expect(specFor(cfg.checks[0]!).probe!.quietPerDay).toBe(24);
    expect(specFor(cfg.checks[1]!).probe!.quietPerDay).toBeUndefined();
    expect(specFor(cfg.checks[2]!).probe!.quietPerDay).toBeUndefined();
  });

  it('a backtest of the partial-drop stream stays within 24 in every rolling 24 h (it spent up to 45 without the cap)', () => {
    const s = partialDrop({ seed: 1 });
    const learn = parseLearnConfig({ min: '2s', max: '12h', falseProbes: '1/week', falsePages: '1/year' });
    for (const cap of [undefined, 24]) {
      const limits = specLimits({ quietAfter: 'auto', pageAfter: 'auto', learn }, undefined, { probeBudgetPerDay: 48 }).limits!;
      const r = runBacktest({
        spec: { name: 'x', stream: 'x', match: {}, labels: {}, quietAfterMs: 0, pageAfterMs: 0, limits, probe: { timeoutMs: 60_000, backoffFactor: 2, backoffMaxMs: H, ...(cap ? { quietPerDay: cap } : {}) } },
        trace: s.trace,
        outages: s.outages,
        seed: 1,
        keepReasons: false,
        rateDrop: false,
      });
      if (cap) expect(r.probes.quietMaxRollingDay).toBe(24);
      else expect(r.probes.quietMaxRollingDay).toBeGreaterThan(24);
      // the cap costs no false page: a capped spell is confirmed by a probe before paging
      expect(r.falsePages).toBe(0);
      expect(r.outages[0]!.delayMs).not.toBeNull();
    }
  }, 120_000);
});
