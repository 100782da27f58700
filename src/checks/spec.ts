/**
 * From a validated check config to what the runtime needs: the engine's spec (with a learned-limits
 * model for `auto` limits), how the check recognises its probe's transaction, and how the service
 * tells any synthetic transaction from real traffic. Used by the service and by `quietwatch
 * backtest`, so both run exactly the same check.
 */
import type { CheckConfig } from '../config/schema.ts';
import { quietProbeCap, specLimits } from '../learn/spec.ts';
import type { ModelState } from '../learn/model.ts';
import type { AttrValue, Correlate } from './runtime.ts';
import { attributePath } from './runtime.ts';
import { ScheduleLimits } from './schedule.ts';
import type { CheckSpec } from './types.ts';

const asList = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : [String(v)]);
/** The match of every check without one: shared (an empty object is 56 bytes, 100,000 times), frozen. */
const MATCH_ANY: Record<string, string[]> = Object.freeze({}) as Record<string, string[]>;

/** Turn a validated check config into the engine's spec (learned limits are attached by the caller). */
export function toSpec(c: CheckConfig): CheckSpec {
  const entries = Object.entries(c.match);
  const match: Record<string, string[]> = entries.length ? {} : MATCH_ANY;
  for (const [k, v] of entries) match[k] = asList(v);
  const quiet = typeof c.quietAfter === 'number' ? c.quietAfter : (c.learn?.min ?? 30_000);
  const page = typeof c.pageAfter === 'number' ? c.pageAfter : (c.learn?.max ?? 600_000);
  const spec: CheckSpec = {
    name: c.name,
    stream: c.stream ?? c.name,
    match,
    quietAfterMs: quiet,
    pageAfterMs: Math.max(page, quiet + 1),
    labels: c.labels,
  };
  if (c.schedule) spec.limits = new ScheduleLimits({ cron: c.schedule.cron, timezone: c.schedule.timezone, graceMs: c.schedule.grace });
  if (c.maxRuntime !== undefined) spec.maxRuntimeMs = c.maxRuntime;
  if (c.probe) {
    spec.probe = { timeoutMs: c.probe.timeout, backoffFactor: c.probe.backoff.factor, backoffMaxMs: c.probe.backoff.max };
    const l = c.probe.learnTimeout;
    if (l) spec.probe.learnTimeout = { factor: l.factor, minMs: l.min, proofs: l.proofs };
  }
  if (c.flap) spec.flap = { maxFlips: c.flap.maxFlips, windowMs: c.flap.window, stableForMs: c.flap.stableFor };
  return spec;
}

/**
 * The engine's spec for a check, with a learned-limits model for `auto` limits (restored from
 * `saved` when given). Used by the service and by `quietwatch backtest`, so both run the same check.
 */
export function specFor(c: CheckConfig, saved?: ModelState): CheckSpec {
  const spec = toSpec(c);
  if (c.learn && (c.quietAfter === 'auto' || c.pageAfter === 'auto')) {
    // With a probe, the quiet limit may spend learn.probeShare of the check's probe budget.
    const sl = specLimits({ quietAfter: c.quietAfter ?? 'auto', pageAfter: c.pageAfter ?? 'auto', learn: c.learn }, saved, c.probe ? { probeBudgetPerDay: c.probe.budget.perDay } : {});
    if (sl.limits) {
      spec.limits = sl.limits;
      spec.quietAfterMs = sl.quietAfterMs;
      spec.pageAfterMs = Math.max(sl.pageAfterMs, sl.quietAfterMs + 1);
      // A learned quiet limit spending a share of the budget never spends more in a rolling day.
      const cap = c.quietAfter === 'auto' && c.probe ? quietProbeCap(c.learn, c.probe.budget.perDay) : undefined;
      if (spec.probe && cap !== undefined) spec.probe.quietPerDay = cap;
    }
  }
  return spec;
}

/** How a check recognises its probe's transaction: an attribute (default probe_id) or card token + amount. */
export function correlateFor(c: CheckConfig): Correlate | undefined {
  if (!c.probe) return undefined;
  const corr = c.probe.correlate;
  if ('attribute' in corr) {
    const path = corr.attribute;
    return (attrs) => {
      const v = attributePath(attrs, path);
      return typeof v === 'string' && v.length > 0 ? v : undefined;
    };
  }
  const amount = String(c.probe.amount);
  return (attrs: Record<string, AttrValue>, state) => {
    const tok = attributePath(attrs, corr.cardTokenAttribute);
    const amt = attributePath(attrs, corr.amountAttribute);
    if (tok !== corr.cardToken || String(amt) !== amount) return undefined;
    return state.probe?.id ?? `card:${corr.cardToken}`;
  };
}

/**
 * A synthetic (probe) transaction, whichever check sent it: it carries a probe-id attribute, or the
 * probe card's token and the probe amount. Those are counted apart and never teach learned limits.
 * The answer is cached per attributes object (the runtime and the counters ask for the same event).
 */
export function syntheticDetector(checks: readonly CheckConfig[]): (attrs: Record<string, AttrValue>) => boolean {
  const probeAttrs = [...new Set(checks.map((c) => (c.probe && 'attribute' in c.probe.correlate ? c.probe.correlate.attribute : 'probe_id')))];
  const probeCards = checks.flatMap((c) => (c.probe && 'cardToken' in c.probe.correlate ? [{ ...c.probe.correlate, amount: String(c.probe.amount) }] : []));
  const seen = new WeakMap<object, boolean>();
  return (attrs) => {
    let v = seen.get(attrs);
    if (v === undefined) {
      v =
        probeAttrs.some((a) => attributePath(attrs, a) !== undefined) ||
        probeCards.some((p) => attributePath(attrs, p.cardTokenAttribute) === p.cardToken && String(attributePath(attrs, p.amountAttribute)) === p.amount);
      seen.set(attrs, v);
    }
    return v;
  };
}
