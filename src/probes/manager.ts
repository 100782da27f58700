/**
 * ProbeManager: the shell that carries out the engine's fire-probe decision, with money safety.
 *
 *  - budgets (per check and global, per rolling hour and rolling 24 h) are checked BEFORE any
 *    charge; a stopped probe is recorded `skipped-budget` and reported `budget` so the lead alerts;
 *  - never two probes in flight for one check (in memory and in the store, until proven / lost /
 *    the deadline);
 *  - one idempotency key per probe, persisted before the first attempt and reused by every retry
 *    (and by a re-fire of the same probe id after a crash);
 *  - RetryableError is retried with the one policy (withRetry) within the probe's deadline;
 *  - proven -> latency recorded, then the charge is reversed when the driver can (in background,
 *    with retries; failures are logged and recorded, never thrown).
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../lib/clock.ts';
import { PermanentError, QuietwatchError } from '../lib/errors.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import { DEFAULT_RETRY, withRetry, type RetryPolicy } from '../lib/retry.ts';
import type { GlobalBudget, ProbeFireOptions } from './config.ts';
import type { BudgetLimit, ProbeReason, ProbeRecord, ProbeStore } from './store.ts';
import type { ChargeRequest, ChargeResult, ProbeDriver } from './types.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface FireRequest {
  check: string;
  /** Chosen by the engine; travels with the charge and comes back on the event. */
  probeId: string;
  reason: ProbeReason;
  /** Epoch ms by which the synthetic transaction must be seen; retries stop before it. */
  deadline: number;
  options: ProbeFireOptions;
  /** The check's stream (the sandbox driver emits onto it). */
  stream?: string;
}

export interface BudgetBreach {
  scope: 'check' | 'global';
  window: 'hour' | 'day';
  limit: number;
  used: number;
}

/** The same results as the engine's `probe-result` input. */
export type ProbeReportResult =
  /** The acquirer took the charge; now wait for the event (proven / lost). */
  | 'accepted'
  /** The acquirer declined the probe card: warn, do not page. */
  | 'refused'
  /**
   * Acquirer unreachable / 5xx / timeout after retries, a permanent driver error, or (code
   * PROBE_IN_FLIGHT) another probe of this check is still in flight so nothing was charged.
   */
  | 'error'
  /** A budget stopped the probe before any charge: alert. */
  | 'budget';

export interface ProbeReport {
  check: string;
  result: ProbeReportResult;
  reference?: string;
  /** Decline code or error code (e.g. card_declined, ACQUIRER_TIMEOUT, PROBE_IN_FLIGHT). */
  code?: string;
  /** Human-readable: the decline message, the error, or which budget stopped the probe. */
  message?: string;
  budget?: BudgetBreach;
  /** With code PROBE_IN_FLIGHT: the probe that is in flight. */
  inFlight?: string;
}

export interface BudgetUse {
  used: number;
  limit: number;
}
export interface BudgetStatus {
  check?: { perHour: BudgetUse; perDay: BudgetUse };
  global: { perHour: BudgetUse; perDay: BudgetUse };
}

export interface ProbeManagerOptions {
  store: ProbeStore;
  drivers: Map<string, ProbeDriver> | Record<string, ProbeDriver>;
  globalBudget: GlobalBudget;
  clock: Clock;
  onResult: (probeId: string, report: ProbeReport) => void;
  logger?: Logger;
  /** Charge retry policy; deadlineMs is always the probe's own deadline. */
  retry?: Partial<Omit<RetryPolicy, 'deadlineMs'>>;
  /** Reversal retry policy. Default: up to 8 attempts within 15 minutes. */
  reverseRetry?: Partial<RetryPolicy>;
  /** Reverse a lost charge too (it was a test charge that went through). Default true. */
  reverseLost?: boolean;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  newIdempotencyKey?: () => string;
  /** Known check options (for budgetStatus before the first fire). */
  checks?: Record<string, ProbeFireOptions>;
}

const CHARGE_RETRY: Omit<RetryPolicy, 'deadlineMs'> = { minDelayMs: 1000, maxDelayMs: 30_000, maxAttempts: 6 };
const REVERSE_RETRY: RetryPolicy = { minDelayMs: 1000, maxDelayMs: 60_000, maxAttempts: 8, deadlineMs: 15 * 60_000 };

type Decision =
  | { kind: 'charge'; rec: ProbeRecord }
  | { kind: 'done'; rec: ProbeRecord }
  | { kind: 'in-flight'; other: string }
  | { kind: 'budget'; rec: ProbeRecord; breach: BudgetBreach }
  | { kind: 'expired'; rec: ProbeRecord };

const errText = (e: unknown): { code: string; message: string } =>
  e instanceof QuietwatchError ? { code: e.code, message: e.message } : { code: 'PROBE_FAILED', message: e instanceof Error ? e.message : String(e) };

export class ProbeManager {
  readonly #store: ProbeStore;
  readonly #drivers: Map<string, ProbeDriver>;
  readonly #global: GlobalBudget;
  readonly #clock: Clock;
  readonly #onResult: (probeId: string, report: ProbeReport) => void;
  readonly #log: Logger;
  readonly #retry: Omit<RetryPolicy, 'deadlineMs'>;
  readonly #reverseRetry: RetryPolicy;
  readonly #reverseLost: boolean;
  readonly #sleep?: (ms: number) => Promise<void>;
  readonly #random?: () => number;
  readonly #newKey: () => string;
  readonly #options = new Map<string, ProbeFireOptions>();
  /** check -> the probe in flight and its deadline. */
  readonly #active = new Map<string, { probeId: string; deadline: number }>();
  /** probe ids whose charge is running in this process. */
  readonly #charging = new Set<string>();
  readonly #background = new Set<Promise<unknown>>();
  readonly #abort = new AbortController();
  #chain: Promise<unknown> = Promise.resolve();

  constructor(o: ProbeManagerOptions) {
    this.#store = o.store;
    this.#drivers = o.drivers instanceof Map ? o.drivers : new Map(Object.entries(o.drivers));
    this.#global = o.globalBudget;
    this.#clock = o.clock;
    this.#onResult = o.onResult;
    this.#log = o.logger ?? silentLogger();
    this.#retry = { ...CHARGE_RETRY, ...o.retry };
    this.#reverseRetry = { ...REVERSE_RETRY, ...o.reverseRetry };
    this.#reverseLost = o.reverseLost ?? true;
    this.#sleep = o.sleep;
    this.#random = o.random;
    this.#newKey = o.newIdempotencyKey ?? (() => `qw_${randomUUID()}`);
    for (const [k, v] of Object.entries(o.checks ?? {})) this.#options.set(k, v);
  }

  /**
   * Carry out one fire-probe decision. Resolves with the stored record once the charge is
   * accepted / refused / errored (or the probe was stopped); results also go to onResult.
   * Firing a probe id again returns its record, or resumes its charge with the same idempotency
   * key when it was left pending (a crash between persisting the key and getting an answer).
   */
  async fire(req: FireRequest): Promise<ProbeRecord | undefined> {
    const { check, probeId, options } = req;
    const log = this.#log.child({ check, probe_id: probeId });
    this.#options.set(check, options);
    let decision: Decision;
    try {
      decision = await this.#locked(() => this.#decide(req));
    } catch (err) {
      // The store refused or could not be reached (LEASE_LOST on a replica that lost the lease,
      // STORE_UNAVAILABLE): nothing was charged. Reported, never thrown at the caller.
      const { code, message } = errText(err);
      log.error({ err_code: code, error: message }, 'probe not fired: the store refused it; nothing was charged');
      this.#report(probeId, { check, result: 'error', code, message });
      return undefined;
    }

    if (decision.kind === 'done') return decision.rec;
    if (decision.kind === 'in-flight') {
      log.warn({ in_flight: decision.other }, 'probe not fired: another probe of this check is in flight');
      this.#report(probeId, {
        check,
        result: 'error',
        code: 'PROBE_IN_FLIGHT',
        message: `probe ${decision.other} of this check is still in flight; nothing was charged`,
        inFlight: decision.other,
      });
      return undefined;
    }
    if (decision.kind === 'expired') {
      log.warn('probe not charged: its deadline had already passed');
      this.#report(probeId, { check, result: 'error', code: 'PROBE_EXPIRED', message: decision.rec.error });
      return decision.rec;
    }
    if (decision.kind === 'budget') {
      const b = decision.breach;
      log.warn({ budget: b }, `probe stopped by the ${b.scope} budget (${b.used}/${b.limit} per ${b.window})`);
      this.#report(probeId, { check, result: 'budget', budget: b, message: decision.rec.error });
      return decision.rec;
    }
    return this.#charge(decision.rec, req, log);
  }

  async #decide(req: FireRequest): Promise<Decision> {
    const { check, probeId, options } = req;
    const now = this.#clock.now();
    const existing = await this.#store.get(probeId);
    if (existing) {
      if (existing.result !== 'pending' || this.#charging.has(probeId)) return { kind: 'done', rec: existing };
      this.#active.set(check, { probeId, deadline: existing.deadline });
      return { kind: 'charge', rec: existing }; // resume with the persisted idempotency key
    }
    const active = this.#active.get(check);
    if (active && active.deadline > now) return { kind: 'in-flight', other: active.probeId };
    const stored = await this.#store.findInFlight(check, now);
    if (stored) return { kind: 'in-flight', other: stored.id };

    const base: ProbeRecord = {
      id: probeId,
      check,
      reason: req.reason,
      driver: options.driver,
      idempotencyKey: this.#newKey(),
      firedAt: now,
      deadline: req.deadline,
      result: 'pending',
      costMinor: options.amount,
      currency: options.currency,
      attempts: 0,
    };
    // A decision taken late (a wake-up that caught up on missed deadlines): the probe's deadline has
    // already passed, so its transaction could prove nothing. Never charge for it.
    if (req.deadline <= now) {
      const rec: ProbeRecord = { ...base, result: 'error', costMinor: 0, error: 'PROBE_EXPIRED: the deadline passed before the charge; nothing was charged', settledAt: now };
      await this.#store.insert(rec);
      return { kind: 'expired', rec };
    }
    if (this.#store.reserve) {
      // a shared store checks "nothing in flight" and the budgets and stores the record in one
      // atomic, fenced step (two replicas never both spend the last unit)
      const r = await this.#store.reserve(base, this.#budgetLimits(check, options, now), now);
      if (r.kind === 'in-flight') return { kind: 'in-flight', other: r.other };
      if (r.kind === 'budget') return { kind: 'budget', rec: r.rec, breach: r.breach };
      this.#active.set(check, { probeId, deadline: req.deadline });
      return { kind: 'charge', rec: base };
    }
    const breach = await this.#budgetBreach(check, options, now);
    if (breach) {
      const rec: ProbeRecord = {
        ...base,
        result: 'skipped-budget',
        costMinor: 0,
        error: `${breach.scope} budget exhausted: ${breach.used}/${breach.limit} charges per ${breach.window}`,
      };
      await this.#store.insert(rec);
      return { kind: 'budget', rec, breach };
    }
    // the idempotency key is persisted before any charge is sent
    await this.#store.insert(base);
    this.#active.set(check, { probeId, deadline: req.deadline });
    return { kind: 'charge', rec: base };
  }

  #budgetLimits(check: string, o: ProbeFireOptions, now: number): BudgetLimit[] {
    return [
      { scope: 'check', window: 'hour', limit: o.budget.perHour, since: now - HOUR + 1 },
      { scope: 'check', window: 'day', limit: o.budget.perDay, since: now - DAY + 1 },
      { scope: 'global', window: 'hour', limit: this.#global.perHour, since: now - HOUR + 1 },
      { scope: 'global', window: 'day', limit: this.#global.perDay, since: now - DAY + 1 },
    ];
  }

  async #budgetBreach(check: string, o: ProbeFireOptions, now: number): Promise<BudgetBreach | undefined> {
    const limits: [BudgetBreach['scope'], BudgetBreach['window'], number][] = [
      ['check', 'hour', o.budget.perHour],
      ['check', 'day', o.budget.perDay],
      ['global', 'hour', this.#global.perHour],
      ['global', 'day', this.#global.perDay],
    ];
    for (const [scope, window, limit] of limits) {
      const used = await this.#store.countCharges({
        check: scope === 'check' ? check : undefined,
        since: now - (window === 'hour' ? HOUR : DAY) + 1,
      });
      if (used >= limit) return { scope, window, limit, used };
    }
    return undefined;
  }

  async #charge(rec: ProbeRecord, req: FireRequest, log: Logger): Promise<ProbeRecord | undefined> {
    const { check, probeId, options } = req;
    const driver = this.#drivers.get(options.driver);
    this.#charging.add(probeId);
    const chargeReq: ChargeRequest = {
      probeId,
      idempotencyKey: rec.idempotencyKey,
      amountMinor: options.amount,
      currency: options.currency,
      check,
    };
    if (req.stream) chargeReq.stream = req.stream;
    let attempts = rec.attempts;
    let chargedAt: number | undefined;
    try {
      if (!driver) throw new PermanentError('PROBE_UNKNOWN_DRIVER', `no probe driver named ${options.driver}`);
      log.info({ reason: req.reason, driver: options.driver, kind: driver.kind }, 'probe fired: charging the test card');
      const start = this.#clock.now();
      const result: ChargeResult = await withRetry(
        async () => {
          attempts++;
          chargedAt = this.#clock.now();
          // a shared store refuses the attempt (LEASE_LOST, not retried) once this replica lost the lease
          if (this.#store.claimAttempt) await this.#store.claimAttempt(probeId, { attempts, chargedAt });
          else await this.#store.update(probeId, { attempts, chargedAt });
          return driver.charge(chargeReq, this.#abort.signal);
        },
        { ...this.#retry, deadlineMs: Math.max(0, req.deadline - start) },
        {
          now: () => this.#clock.now(),
          sleep: this.#sleep,
          random: this.#random,
          onRetry: (err, attempt, delayMs) => log.warn({ err_code: err.code, error: err.message, attempt, delay_ms: Math.round(delayMs) }, 'probe charge failed; retrying with the same idempotency key'),
        },
      );
      const current = await this.#store.get(probeId);
      const settled = current && (current.result === 'proven' || current.result === 'lost');
      if (result.outcome === 'accepted') {
        const patch: Partial<ProbeRecord> = { costMinor: options.amount };
        if (result.reference) patch.reference = result.reference;
        if (!settled) patch.result = 'accepted';
        await this.#store.update(probeId, patch);
        log.info({ reference: result.reference, attempts }, 'probe charge accepted; waiting for the transaction');
        if (!settled) this.#report(probeId, { check, result: 'accepted', reference: result.reference });
        else if (current.result === 'proven' || this.#reverseLost) this.#startReversal(probeId, 'late-accept');
      } else {
        const error = result.code ? `${result.code}: ${result.message}` : result.message;
        await this.#store.update(probeId, settled ? { error } : { result: 'refused', costMinor: 0, error });
        this.#release(check, probeId);
        log.warn({ code: result.code, error: result.message }, 'probe card refused by the acquirer');
        if (!settled) this.#report(probeId, { check, result: 'refused', code: result.code, message: result.message });
      }
    } catch (err) {
      const { code, message } = errText(err);
      const current = await this.#store.get(probeId);
      const settled = current && (current.result === 'proven' || current.result === 'lost');
      await this.#store.update(probeId, settled ? { error: `${code}: ${message}` } : { result: 'error', error: `${code}: ${message}` });
      this.#release(check, probeId);
      log.error({ err_code: code, error: message, attempts }, 'probe charge failed');
      if (!settled) this.#report(probeId, { check, result: 'error', code, message });
    } finally {
      this.#charging.delete(probeId);
    }
    return this.#store.get(probeId);
  }

  /**
   * The matching event arrived at `at`: record end-to-end latency (charge sent -> event seen),
   * then reverse the charge in background when the driver can. Never throws for a reversal.
   */
  async proven(probeId: string, at: number): Promise<ProbeRecord | undefined> {
    const rec = await this.#store.get(probeId);
    if (!rec || rec.result === 'proven') return rec;
    const patch: Partial<ProbeRecord> = { result: 'proven', settledAt: at };
    if (rec.chargedAt !== undefined) patch.latencyMs = Math.max(0, at - rec.chargedAt);
    await this.#store.update(probeId, patch);
    this.#release(rec.check, probeId);
    this.#log.info({ check: rec.check, probe_id: probeId, latency_ms: patch.latencyMs, reference: rec.reference }, 'probe proven: the synthetic transaction came through');
    // a charge still being answered is reversed once accepted (see #charge)
    if (!this.#charging.has(probeId)) this.#startReversal(probeId, 'proven');
    return this.#store.get(probeId);
  }

  /** No matching event by the deadline: record lost (reverse the charge too when reverseLost). */
  async lost(probeId: string, at: number): Promise<ProbeRecord | undefined> {
    const rec = await this.#store.get(probeId);
    if (!rec || (rec.result !== 'pending' && rec.result !== 'accepted')) return rec;
    await this.#store.update(probeId, { result: 'lost', settledAt: at });
    this.#release(rec.check, probeId);
    this.#log.warn({ check: rec.check, probe_id: probeId, reference: rec.reference }, 'probe lost: the charge was accepted but no transaction came through');
    if (this.#reverseLost && !this.#charging.has(probeId)) this.#startReversal(probeId, 'lost');
    return this.#store.get(probeId);
  }

  /**
   * After a restart: probes whose charge was never answered. Those past their deadline are
   * closed as `error` (PROBE_INTERRUPTED: the charge may or may not have gone through; its
   * idempotency key is on the record). Those still within their deadline are returned: fire()
   * them again with the same probe id to resume with the same idempotency key.
   */
  async recoverInterrupted(): Promise<ProbeRecord[]> {
    const now = this.#clock.now();
    const resumable: ProbeRecord[] = [];
    for (const rec of await this.#store.listPending()) {
      if (this.#charging.has(rec.id)) continue;
      if (rec.deadline > now) {
        resumable.push(rec);
        continue;
      }
      const error = 'PROBE_INTERRUPTED: the service stopped before the acquirer answered';
      await this.#store.update(rec.id, { result: 'error', error });
      this.#log.warn({ check: rec.check, probe_id: rec.id, idempotency_key: rec.idempotencyKey }, 'probe interrupted by a restart; its charge outcome is unknown');
    }
    return resumable;
  }

  list(q: { check?: string; limit?: number } = {}): Promise<ProbeRecord[]> {
    return this.#store.list(q);
  }

  get(id: string): Promise<ProbeRecord | undefined> {
    return this.#store.get(id);
  }

  async budgetStatus(check?: string): Promise<BudgetStatus> {
    const now = this.#clock.now();
    const use = async (c: string | undefined, window: number, limit: number): Promise<BudgetUse> => ({
      used: await this.#store.countCharges({ check: c, since: now - window + 1 }),
      limit,
    });
    const out: BudgetStatus = {
      global: { perHour: await use(undefined, HOUR, this.#global.perHour), perDay: await use(undefined, DAY, this.#global.perDay) },
    };
    const o = check !== undefined ? this.#options.get(check) : undefined;
    if (check !== undefined && o) {
      out.check = { perHour: await use(check, HOUR, o.budget.perHour), perDay: await use(check, DAY, o.budget.perDay) };
    }
    return out;
  }

  /** Resolves when background work (reversals) has finished. */
  async idle(): Promise<void> {
    while (this.#background.size) await Promise.allSettled([...this.#background]);
  }

  /** Abort charges and reversals in progress (shutdown) and wait for them to settle. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.idle();
  }

  #release(check: string, probeId: string): void {
    if (this.#active.get(check)?.probeId === probeId) this.#active.delete(check);
  }

  #report(probeId: string, report: ProbeReport): void {
    try {
      this.#onResult(probeId, report);
    } catch (err) {
      this.#log.error({ probe_id: probeId, error: errText(err).message }, 'onResult handler threw');
    }
  }

  #startReversal(probeId: string, why: string): void {
    const p = this.#reverse(probeId, why).catch(() => undefined);
    this.#background.add(p);
    void p.finally(() => this.#background.delete(p));
  }

  async #reverse(probeId: string, why: string): Promise<void> {
    const rec = await this.#store.get(probeId);
    if (!rec || rec.reversedAt !== undefined) return;
    const driver = this.#drivers.get(rec.driver);
    if (!driver?.reverse) return;
    const reverse = driver.reverse.bind(driver);
    const log = this.#log.child({ check: rec.check, probe_id: probeId });
    const req = {
      probeId,
      idempotencyKey: rec.idempotencyKey,
      amountMinor: rec.costMinor,
      currency: rec.currency,
      check: rec.check,
      reference: rec.reference,
    };
    try {
      await withRetry(() => reverse(req, this.#abort.signal), this.#reverseRetry, {
        now: () => this.#clock.now(),
        sleep: this.#sleep,
        random: this.#random,
        onRetry: (err, attempt) => log.warn({ err_code: err.code, error: err.message, attempt }, 'probe reversal failed; retrying'),
      });
      await this.#store.update(probeId, { reversedAt: this.#clock.now() });
      log.info({ reference: rec.reference, why }, 'probe charge reversed');
    } catch (err) {
      const { code, message } = errText(err);
      await this.#store.update(probeId, { reversalError: `${code}: ${message}` });
      log.error({ err_code: code, error: message, reference: rec.reference }, 'probe reversal failed; reverse it by hand');
    }
  }

  #locked<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#chain.then(fn, fn);
    this.#chain = p.catch(() => undefined);
    return p;
  }
}
