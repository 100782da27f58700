/**
 * The generic http acquirer driver: one templated call per attempt (timeout, idempotency header),
 * optional reversal call. Header values are Secrets revealed only when sent; remote text put into
 * errors is scrubbed of them.
 */
import { PermanentError, RetryableError, errorForStatus, networkError } from '../../lib/errors.ts';
import type { Secret } from '../../lib/secret.ts';
import { isSecret } from '../../lib/secret.ts';
import type { HttpDriverConfig } from '../config.ts';
import { redactSecrets } from '../redact.ts';
import type { ChargeRequest, ChargeResult, ProbeDriver, ReverseRequest } from '../types.ts';
import { buildChargeRequest, buildReverseRequest, readChargeResponse, type HttpRequestSpec } from './payload.ts';

const SERVICE = 'acquirer';

export class HttpProbeDriver implements ProbeDriver {
  readonly kind = 'http' as const;
  readonly reverse?: (req: ReverseRequest, signal?: AbortSignal) => Promise<void>;
  readonly #cfg: HttpDriverConfig;
  readonly #secrets: Secret[];

  constructor(cfg: HttpDriverConfig) {
    this.#cfg = cfg;
    this.#secrets = [...Object.values(cfg.headers), ...Object.values(cfg.reverse?.headers ?? {})];
    if (cfg.reverse) this.reverse = (req, signal) => this.#reverse(req, signal);
  }

  async charge(req: ChargeRequest, signal?: AbortSignal): Promise<ChargeResult> {
    const { status, text } = await this.#send(buildChargeRequest(this.#cfg, req), signal);
    const reading = readChargeResponse(this.#cfg, status, text);
    if (reading.kind === 'result') {
      const r = reading.result;
      // remote text goes into records and logs: scrub anything the acquirer echoed back
      if (r.outcome === 'refused') return { ...r, message: redactSecrets(r.message, this.#secrets), ...(r.code ? { code: redactSecrets(r.code, this.#secrets) } : {}) };
      return r;
    }
    throw this.#statusError(status, text);
  }

  async #reverse(req: ReverseRequest, signal?: AbortSignal): Promise<void> {
    const spec = buildReverseRequest(this.#cfg, req);
    if (!spec) return;
    const { status, text } = await this.#send(spec, signal);
    if (this.#cfg.reverse!.successStatus.includes(status)) return;
    throw this.#statusError(status, text);
  }

  #statusError(status: number, text: string): Error {
    const detail = redactSecrets(text, this.#secrets);
    return (
      errorForStatus(SERVICE, status, detail) ??
      new PermanentError(`ACQUIRER_UNEXPECTED_${status}`, `acquirer answered ${status}, not a configured success status`)
    );
  }

  async #send(spec: HttpRequestSpec, signal?: AbortSignal): Promise<{ status: number; text: string }> {
    if (signal?.aborted) throw new PermanentError('PROBE_ABORTED', 'probe aborted before the call');
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(spec.headers)) headers[k] = isSecret(v) ? v.reveal() : v;
    const timeout = AbortSignal.timeout(spec.timeoutMs);
    const combined = signal ? AbortSignal.any([timeout, signal]) : timeout;
    let res: Response;
    try {
      res = await fetch(spec.url, { method: spec.method, headers, body: spec.body, signal: combined });
    } catch (err) {
      if (signal?.aborted) throw new PermanentError('PROBE_ABORTED', 'probe aborted', { cause: err });
      throw scrub(networkError(SERVICE, err));
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw scrub(networkError(SERVICE, err));
    }
    return { status: res.status, text };
  }
}

/** Network errors carry undici's error as cause (no headers in it); keep only code + message. */
function scrub(e: RetryableError): RetryableError {
  const c = e.cause as { name?: string; message?: string; cause?: { code?: string } } | undefined;
  return new RetryableError(e.code, e.message, {
    cause: c ? { name: c.name, message: c.message, code: c.cause?.code } : undefined,
  });
}
