/**
 * The one retry policy every outbound call shares (notifiers, probe drivers).
 * Exponential backoff with full jitter, honours Retry-After, retries only RetryableError,
 * stops at a deadline. Time and sleep are injected so tests run in virtual time.
 */
import { QuietwatchError } from './errors.ts';

export interface RetryPolicy {
  /** First backoff, ms. */
  minDelayMs: number;
  /** Cap on one backoff, ms. */
  maxDelayMs: number;
  /** Give up after this many attempts in total (>= 1). */
  maxAttempts: number;
  /** Give up when the next attempt would start after now + deadlineMs. */
  deadlineMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { minDelayMs: 500, maxDelayMs: 30_000, maxAttempts: 8, deadlineMs: 120_000 };

export interface RetryDeps {
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  onRetry?: (err: QuietwatchError, attempt: number, delayMs: number) => void;
}

/** Delay before attempt `attempt + 1` (attempt counts from 1). Pure. */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: number, retryAfterMs?: number): number {
  const exp = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** (attempt - 1));
  const jittered = exp / 2 + (exp / 2) * random; // "equal jitter": never below half the step
  return retryAfterMs !== undefined ? Math.max(retryAfterMs, jittered) : jittered;
}

export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy = DEFAULT_RETRY,
  deps: RetryDeps = {},
): Promise<T> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = deps.random ?? Math.random;
  const start = now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!(err instanceof QuietwatchError) || !err.retryable) throw err;
      if (attempt >= policy.maxAttempts) throw err;
      const delay = backoffDelay(policy, attempt, random(), err.retryAfterMs);
      if (now() + delay - start > policy.deadlineMs) throw err;
      deps.onRetry?.(err, attempt, delay);
      await sleep(delay);
    }
  }
}
