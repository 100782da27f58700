/**
 * Rate-drop: a partial outage (one scheme fails, traffic falls 90% but not to zero) never makes a
 * long silence, so the silence limits cannot see it. This pure evaluator compares the count in a
 * window with the learned normal for that window. The runtime calls it on a timer at the end of
 * each window (e.g. every 5 minutes) with the count it saw, and pages or probes on 'drop'.
 *
 * The expectation is the learned profile times the rate-drop baseline (ArrivalModel.rateBaseline,
 * taught by the windows judged normal: RateWindows). A drop needs both: the count is at least
 * `minDrop` below the expectation (e.g. 80%), and it is
 * unlikely under the learned normal: the lower tail P(N <= observed) of a negative binomial with the
 * model's over-dispersion plus the uncertainty of the bucket's estimate (1/r = dispersion + 1/n) is below the tolerated false rate converted
 * to a per-window probability (falseAlarms * window length: one opportunity per window).
 */
import nbCdf from '@stdlib/stats-base-dists-negative-binomial-cdf';
import poissonCdf from '@stdlib/stats-base-dists-poisson-cdf';
import type { ArrivalModel } from './model.ts';

export interface RateDropOptions {
  /** Required relative drop (0.8 = at least 80% below normal). */
  minDrop: number;
  /** Tolerated false alarms per ms (parseRate('1/year')). */
  falseAlarmsPerMs: number;
  /** Use the model's over-dispersion (default true). */
  overDispersion?: boolean;
}

export interface RateDropResult {
  verdict: 'normal' | 'drop';
  /** False while the model has no history: never a drop then. */
  learned: boolean;
  expected: number;
  observed: number;
  /** P(N <= observed) under the learned normal. */
  probability: number;
  /** The per-window probability a drop must be below. */
  threshold: number;
  reason: string;
}

/** P(N <= k) for N ~ Poisson(mean) (phi = 0) or negative binomial with mean and Var = mean + phi mean^2. */
export function lowerTail(k: number, mean: number, phi: number): number {
  if (mean <= 0) return 1;
  k = Math.floor(k);
  if (k < 0) return 0;
  if (phi <= 1e-9) return poissonCdf(k, mean);
  const r = 1 / phi;
  return nbCdf(k, r, r / (r + mean)); // r successes, success probability p: mean r(1-p)/p
}

export function evaluateRateDrop(model: ArrivalModel, windowStart: number, windowEnd: number, observedCount: number, opts: RateDropOptions): RateDropResult {
  // The learned profile at the rate-drop baseline (model.rateBaseline: a permanent step down is
  // followed within hours, not over the profile's half-life).
  const expected = model.expectedCount(windowStart, windowEnd) * model.rateBaseline();
  const threshold = Math.min(1, opts.falseAlarmsPerMs * (windowEnd - windowStart));
  const base = { expected, observed: observedCount, threshold };
  if (!model.learned() || expected <= 0) {
    return { verdict: 'normal', learned: false, probability: 1, ...base, reason: 'no history for this time of week yet' };
  }
  const phi = opts.overDispersion === false ? 0 : model.dispersionAt(windowStart);
  const probability = lowerTail(observedCount, expected, phi);
  const drop = 1 - observedCount / expected;
  const pct = Math.round(drop * 100);
  const normal = `normal for this window: ${expected.toFixed(1)} events`;
  if (drop >= opts.minDrop && probability < threshold) {
    return { verdict: 'drop', learned: true, probability, ...base, reason: `${observedCount} events, ${pct}% below ${normal} (p = ${probability.toExponential(1)})` };
  }
  const why = drop < opts.minDrop ? `drop ${Math.max(0, pct)}% < ${Math.round(opts.minDrop * 100)}%` : `p = ${probability.toExponential(1)} not below ${threshold.toExponential(1)}`;
  return { verdict: 'normal', learned: true, probability, ...base, reason: `${observedCount} events; ${normal} (${why})` };
}
