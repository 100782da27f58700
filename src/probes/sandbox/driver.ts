/** The sandbox driver: charges the in-process sandbox acquirer (src/sandbox/). */
import { PermanentError } from '../../lib/errors.ts';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import type { SandboxDriverConfig } from '../config.ts';
import type { ChargeRequest, ChargeResult, ProbeDriver, ReverseRequest } from '../types.ts';

export class SandboxProbeDriver implements ProbeDriver {
  readonly kind = 'sandbox' as const;
  constructor(
    private readonly cfg: SandboxDriverConfig,
    private readonly sandbox: Sandbox,
  ) {}

  charge(req: ChargeRequest, signal?: AbortSignal): Promise<ChargeResult> {
    if (signal?.aborted) return Promise.reject(new PermanentError('PROBE_ABORTED', 'probe aborted before the call'));
    return this.sandbox.charge(req, { stream: this.cfg.stream, cardToken: this.cfg.cardToken });
  }

  async reverse(req: ReverseRequest): Promise<void> {
    if (req.reference) await this.sandbox.reverse(req.reference);
  }
}
