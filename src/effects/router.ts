/**
 * The track between the stages: the engine decides (effects as data), the router hands each effect
 * to the modules that act on it. The handler map is keyed by effect type and typed so that a new
 * `Effect` variant without a handler entry fails `npm run typecheck`.
 *
 * A handler's failure — thrown or rejected — is caught, logged with the check and the effect,
 * counted (metric `quietwatch_effect_failures_total{effect,handler}`) and kept for `/readyz`: one
 * failing effect never kills the process and never stops the other handlers of the same effect.
 */
import type { CheckSpec, CheckState, Effect } from '../checks/types.ts';
import type { Logger } from '../lib/logger.ts';

export type EffectType = Effect['type'];
export type EffectOf<T extends EffectType> = Extract<Effect, { type: T }>;

export interface EffectContext {
  spec: CheckSpec;
  /** The check's state right after the step that produced the effect. */
  state: CheckState;
}

export interface NamedHandler<T extends EffectType> {
  /** Who handles it (logs, metrics, /readyz): `probes`, `alerts`, `metrics`. */
  name: string;
  handle(effect: EffectOf<T>, ctx: EffectContext): void | Promise<void>;
}

/** Every effect type must be listed (an empty list says "deliberately nothing"). */
export type EffectHandlers = { [T in EffectType]: ReadonlyArray<NamedHandler<T>> };

export interface EffectFailure {
  effect: EffectType;
  handler: string;
  check: string;
  message: string;
  at: number;
}

export interface EffectRouterHealth {
  ok: boolean;
  failures: number;
  /** Failures by `effect/handler`. */
  byHandler: Record<string, number>;
  last?: EffectFailure;
}

export interface EffectRouterOptions {
  logger: Logger;
  now: () => number;
  onFailure?: (f: EffectFailure) => void;
  /** A failure older than this no longer makes /readyz degraded (default 10 min). */
  degradedForMs?: number;
}

export class EffectRouter {
  private failures = 0;
  private readonly byHandler: Record<string, number> = {};
  private last?: EffectFailure;
  private readonly pending = new Set<Promise<unknown>>();

  constructor(
    private readonly handlers: EffectHandlers,
    private readonly opts: EffectRouterOptions,
  ) {}

  dispatch(effect: Effect, ctx: EffectContext): void {
    const list = this.handlers[effect.type] as ReadonlyArray<NamedHandler<EffectType>>;
    for (const h of list) {
      try {
        const r = h.handle(effect as never, ctx);
        if (r && typeof (r as Promise<void>).then === 'function') {
          // The closure keeps what a failure reports, not the effect and its context (a storm has
          // 100,000 handlers waiting for their alert writes: each kept its effect's details).
          const type = effect.type;
          const name = h.name;
          const check = ctx.spec.name;
          const p = (r as Promise<void>).catch((err) => this.failed(type, name, check, err));
          this.pending.add(p);
          void p.finally(() => this.pending.delete(p));
        }
      } catch (err) {
        this.fail(effect, h.name, ctx, err);
      }
    }
  }

  /** Wait for every handler started so far (shutdown, tests). */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  health(): EffectRouterHealth {
    const recent = this.last !== undefined && this.opts.now() - this.last.at < (this.opts.degradedForMs ?? 600_000);
    return { ok: !recent, failures: this.failures, byHandler: { ...this.byHandler }, ...(this.last ? { last: this.last } : {}) };
  }

  private fail(effect: Effect, handler: string, ctx: EffectContext, err: unknown): void {
    this.failed(effect.type, handler, ctx.spec.name, err);
  }

  private failed(type: Effect['type'], handler: string, check: string, err: unknown): void {
    const f: EffectFailure = { effect: type, handler, check, message: err instanceof Error ? err.message : String(err), at: this.opts.now() };
    this.failures++;
    const key = `${type}/${handler}`;
    this.byHandler[key] = (this.byHandler[key] ?? 0) + 1;
    this.last = f;
    try {
      this.opts.logger.error({ err, check: f.check, effect: f.effect, handler }, `effect ${f.effect} failed in ${handler} for check ${f.check}`);
      this.opts.onFailure?.(f);
    } catch {
      /* never reach the caller */
    }
  }
}
