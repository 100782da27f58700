/**
 * From a check's limit fields (`quietAfter`, `pageAfter`, `learn`) to the engine's CheckSpec
 * fields: fixed numbers stay fixed; 'auto' gets a LearnedLimits (restored from `state` if given).
 * The fixed quietAfterMs/pageAfterMs of the spec are then the bounds' max (the fallback).
 */
import type { LearnConfig, LearnedLimitsFields } from './config.ts';

const DAY = 86_400_000;
import { LearnedLimits, type ModelState } from './model.ts';

export interface SpecLimits {
  quietAfterMs: number;
  pageAfterMs: number;
  limits?: LearnedLimits;
}

export interface SpecLimitsOptions {
  /** The check's probe budget (`probe.budget.perDay`): the quiet limit may spend `learn.probeShare` of it. Implies `probe`. */
  probeBudgetPerDay?: number;
  /**
   * The check has a probe: while the model warms up, the quiet limit is half of max, so the probe
   * decides before max pages (at quiet = page = max every silence of max paged, and after each
   * proof the next one paged again 12 h later).
   */
  probe?: boolean;
}

/**
 * The learn config a check's model runs with: with a probe budget, the quiet tolerance is the
 * larger of falseProbes and probeShare x budget (the earliest quiet limit whose false probes stay
 * within that share).
 */
export function effectiveLearnConfig(learn: LearnConfig, opts: SpecLimitsOptions = {}): LearnConfig {
  const budget = opts.probeBudgetPerDay;
  if (budget === undefined || !(budget > 0) || !(learn.probeShare > 0)) return learn;
  const fromBudget = (learn.probeShare * budget) / DAY;
  return fromBudget > learn.falseProbes ? { ...learn, falseProbes: fromBudget } : learn;
}

/**
 * The hard cap on quiet-triggered probes in any rolling 24 h (the engine's `probe.quietPerDay`)
 * for a learned quiet limit spending `probeShare` of the budget: probeShare x perDay, at least one.
 * The learned limit aims at that share; the cap makes sure it is never exceeded when the stream's
 * silences are likelier than the model says (undefined: no budget trigger, no cap).
 */
export function quietProbeCap(learn: LearnConfig, probeBudgetPerDay: number | undefined): number | undefined {
  if (probeBudgetPerDay === undefined || !(probeBudgetPerDay > 0) || !(learn.probeShare > 0)) return undefined;
  return Math.max(1, Math.floor(learn.probeShare * probeBudgetPerDay));
}

export function specLimits(f: LearnedLimitsFields, state?: ModelState, opts: SpecLimitsOptions = {}): SpecLimits {
  const quietFixed = typeof f.quietAfter === 'number' ? f.quietAfter : undefined;
  const pageFixed = typeof f.pageAfter === 'number' ? f.pageAfter : undefined;
  if (!f.learn || (quietFixed !== undefined && pageFixed !== undefined)) {
    return { quietAfterMs: quietFixed ?? 0, pageAfterMs: pageFixed ?? 0 };
  }
  const probe = opts.probe === true || opts.probeBudgetPerDay !== undefined;
  const limits = new LearnedLimits(
    effectiveLearnConfig(f.learn, opts),
    {
      ...(quietFixed !== undefined ? { quietAfterMs: quietFixed } : probe ? { fallbackQuietMs: Math.max(f.learn.min, Math.floor(f.learn.max / 2)) } : {}),
      ...(pageFixed !== undefined ? { pageAfterMs: pageFixed } : {}),
    },
    state,
  );
  return { quietAfterMs: quietFixed ?? f.learn.max, pageAfterMs: pageFixed ?? f.learn.max, limits };
}
