/**
 * From a check's limit fields (`quietAfter`, `pageAfter`, `learn`) to the engine's CheckSpec
 * fields: fixed numbers stay fixed; 'auto' gets a LearnedLimits (restored from `state` if given).
 * The fixed quietAfterMs/pageAfterMs of the spec are then the bounds' max (the fallback).
 */
import type { LearnedLimitsFields } from './config.ts';
import { LearnedLimits, type ModelState } from './model.ts';

export interface SpecLimits {
  quietAfterMs: number;
  pageAfterMs: number;
  limits?: LearnedLimits;
}

export function specLimits(f: LearnedLimitsFields, state?: ModelState): SpecLimits {
  const quietFixed = typeof f.quietAfter === 'number' ? f.quietAfter : undefined;
  const pageFixed = typeof f.pageAfter === 'number' ? f.pageAfter : undefined;
  if (!f.learn || (quietFixed !== undefined && pageFixed !== undefined)) {
    return { quietAfterMs: quietFixed ?? 0, pageAfterMs: pageFixed ?? 0 };
  }
  const limits = new LearnedLimits(f.learn, { ...(quietFixed !== undefined ? { quietAfterMs: quietFixed } : {}), ...(pageFixed !== undefined ? { pageAfterMs: pageFixed } : {}) }, state);
  return { quietAfterMs: quietFixed ?? f.learn.max, pageAfterMs: pageFixed ?? f.learn.max, limits };
}
