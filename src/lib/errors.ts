/**
 * Typed errors with a stable `code` users can match on, a `retryable` classification and a `cause`.
 * Every outbound call (notifier, probe driver, metrics) throws one of these.
 */
export class QuietwatchError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  /** Milliseconds the receiver asked us to wait (HTTP Retry-After), when it said so. */
  readonly retryAfterMs?: number;
  constructor(code: string, message: string, opts: { retryable: boolean; cause?: unknown; retryAfterMs?: number }) {
    super(message, { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = opts.retryable;
    if (opts.retryAfterMs !== undefined) this.retryAfterMs = opts.retryAfterMs;
  }
}

/** A failure worth retrying: 429, 5xx, timeouts, connection refused. */
export class RetryableError extends QuietwatchError {
  constructor(code: string, message: string, opts: { cause?: unknown; retryAfterMs?: number } = {}) {
    super(code, message, { ...opts, retryable: true });
  }
}

/** A failure that will not go away by retrying: 400/401/403/404, invalid_auth, bad routing key. */
export class PermanentError extends QuietwatchError {
  constructor(code: string, message: string, opts: { cause?: unknown } = {}) {
    super(code, message, { ...opts, retryable: false });
  }
}

/** Parse an HTTP Retry-After header (seconds or HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const secs = Number(value);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/**
 * Classify an HTTP status the way every notifier and driver does: 2xx ok, 408/429/5xx retryable,
 * other 4xx permanent. Returns undefined for success.
 */
export function errorForStatus(
  service: string,
  status: number,
  detail: string,
  retryAfter?: string | null,
): QuietwatchError | undefined {
  if (status >= 200 && status < 300) return undefined;
  const code = `${service.toUpperCase()}_HTTP_${status}`;
  const msg = `${service} answered ${status}: ${detail.slice(0, 300)}`;
  if (status === 408 || status === 429 || status >= 500) {
    return new RetryableError(code, msg, { retryAfterMs: parseRetryAfter(retryAfter) });
  }
  return new PermanentError(code, msg);
}

/** Wrap a fetch/network failure (refused, reset, DNS, abort by timeout) as retryable. */
export function networkError(service: string, err: unknown): RetryableError {
  const e = err as { name?: string; message?: string; cause?: { code?: string } };
  const timeout = e?.name === 'TimeoutError' || e?.name === 'AbortError';
  const code = timeout ? `${service.toUpperCase()}_TIMEOUT` : `${service.toUpperCase()}_NETWORK`;
  const why = timeout ? 'timed out' : (e?.cause?.code ?? e?.message ?? 'network error');
  return new RetryableError(code, `${service} unreachable: ${why}`, { cause: err });
}
