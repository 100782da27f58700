/**
 * AlertManager: the one object the rest of quietwatch calls. It turns check transitions into
 * incidents and notifications, writes every notification to the outbox before sending it, delivers
 * with the one retry policy, escalates pages that cannot be delivered in time, reminds about unacked
 * incidents, and holds pages while a silence or maintenance window covers the check.
 *
 * One timer: after every change the manager computes the earliest thing it has to do (a retry, an
 * escalation, a reminder, the end of a silence) and sleeps until then.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../lib/clock.ts';
import { QuietwatchError, RetryableError } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';
import { backoffDelay, type RetryPolicy } from '../lib/retry.ts';
import { resolveRoute, type AlertRoutes } from './config.ts';
import type { AlertStore, NewOutboxRow, OutboxRow } from './outbox.ts';
import { silenceState } from './silences.ts';
import type {
  DeliveryRecord,
  Incident,
  MaintenanceWindow,
  Notification,
  NotificationAction,
  NotificationDetails,
  Notifier,
  Severity,
  Silence,
  SilenceMatchers,
  WarningKind,
} from './types.ts';

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface AlertManagerOptions {
  store: AlertStore;
  notifiers: Record<string, Notifier>;
  routes: AlertRoutes;
  clock: Clock;
  logger: Logger;
  /** If a page is not delivered `after` ms after it was released, send it through `fallback` too. */
  escalation?: { after: number; fallback: string[] };
  /** Re-notify (chat notifiers; PagerDuty has its own policy) about unacknowledged open incidents. */
  reminderEvery?: number;
  retry: RetryPolicy;
  /** Recurring maintenance windows from config. */
  silences?: MaintenanceWindow[];
  timers?: Timers;
  random?: () => number;
  onDelivery?: (record: DeliveryRecord) => void;
}

/**
 * Details as callers have them (the engine's `AlertDetails` fits as is): nulls are dropped, and
 * fields the notification has no slot for (e.g. `limits`) are kept under `extra`.
 */
export type DetailsInput = { [K in keyof NotificationDetails]?: NotificationDetails[K] | null };

const DETAIL_KEYS = new Set<string>([
  'state',
  'lastEventAt',
  'silenceMs',
  'normal',
  'probe',
  'runbookUrl',
  'dashboardUrl',
  'escalated',
  'ackedBy',
  'warningKind',
  'extra',
]);

/** Normalise caller details into NotificationDetails (pure). */
export function normaliseDetails(reason: string, state: string, input: DetailsInput | undefined): NotificationDetails {
  const out: Record<string, unknown> = {};
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input ?? {})) {
    if (v === null || v === undefined) continue;
    if (DETAIL_KEYS.has(k)) out[k] = v;
    else if (k !== 'reason') extra[k] = v;
  }
  if (Object.keys(extra).length) out.extra = { ...(out.extra as Record<string, unknown> | undefined), ...extra };
  return { ...out, reason, state: typeof out.state === 'string' ? out.state : state } as NotificationDetails;
}

export interface CheckDownInput {
  check: string;
  labels?: Record<string, string>;
  /** When the check really went down (the deadline), epoch ms. */
  at: number;
  reason: string;
  summary?: string;
  severity?: Severity;
  details?: DetailsInput;
}

export interface CheckRecoveredInput {
  check: string;
  at: number;
  reason: string;
  details?: DetailsInput;
}

export interface WarningInput {
  check: string;
  labels?: Record<string, string>;
  at: number;
  kind: WarningKind;
  summary: string;
  details?: DetailsInput;
}

export interface PermanentFailure {
  notifier: string;
  code: string;
  message: string;
  at: number;
}

export interface AlertHealth {
  ok: boolean;
  permanentFailures: PermanentFailure[];
  /** Page notifications (trigger / acknowledge / resolve) accepted but not yet delivered. */
  pendingPages: number;
}

export interface NewSilence {
  matchers: SilenceMatchers;
  startsAt: number;
  endsAt: number;
  reason: string;
  createdBy: string;
}

/** Thrown for calls the API should answer with 4xx. */
export class AlertInputError extends Error {
  constructor(
    readonly code: 'NOT_FOUND' | 'INVALID' | 'CONFLICT',
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'AlertInputError';
  }
}

const PAGE_ACTIONS: ReadonlySet<NotificationAction> = new Set(['trigger', 'acknowledge', 'resolve']);
const CHAT_KINDS = new Set(['slack', 'slack-webhook']);
/** setTimeout's limit is 2^31-1 ms; wake at least this often and recompute. */
const MAX_SLEEP_MS = 60 * 60_000;
const PD_DEDUP_MAX = 255;

const defaultTimers: Timers = {
  setTimeout: (fn, ms) => {
    const h = setTimeout(fn, ms);
    h.unref?.();
    return h;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class AlertManager {
  readonly #o: AlertManagerOptions;
  readonly #log: Logger;
  readonly #timers: Timers;
  readonly #random: () => number;
  readonly #windows: MaintenanceWindow[];
  #silences: Silence[] = [];
  #started = false;
  #stopped = false;
  #timer: unknown;
  #timerAt: number | undefined;
  #inFlight = new Map<string, Promise<void>>();
  /** Outbox rows this replica could not claim (not the leader): row id -> when to look again. */
  #unclaimed = new Map<string, number>();
  #permanent = new Map<string, PermanentFailure>();
  /** Serialises state changes (public calls and ticks) so two never interleave. */
  #chain: Promise<unknown> = Promise.resolve();
  #tickQueued = false;

  constructor(opts: AlertManagerOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ component: 'alerts' });
    this.#timers = opts.timers ?? defaultTimers;
    this.#random = opts.random ?? Math.random;
    this.#windows = opts.silences ?? [];
    this.#validate();
  }

  /** Fail at start-up, not at 3 a.m.: every routed notifier must exist, warnings never page. */
  #validate(): void {
    const known = this.#o.notifiers;
    const problems: string[] = [];
    const need = (names: string[] | undefined, where: string) =>
      names?.forEach((n) => {
        if (!known[n]) problems.push(`${where}: unknown notifier "${n}"`);
      });
    const r = this.#o.routes;
    need(r.default.page, 'routes.default.page');
    need(r.default.warning, 'routes.default.warning');
    r.overrides.forEach((o, i) => {
      need(o.page, `routes.overrides[${i}].page`);
      need(o.warning, `routes.overrides[${i}].warning`);
    });
    need(this.#o.escalation?.fallback, 'escalation.fallback');
    const pagerInWarning = [...r.default.warning, ...r.overrides.flatMap((o) => o.warning ?? [])].filter(
      (n) => known[n]?.kind === 'pagerduty',
    );
    if (pagerInWarning.length) problems.push(`warnings never go to PagerDuty: ${pagerInWarning.join(', ')}`);
    if (problems.length) throw new Error(`alerts config: ${problems.join('; ')}`);
  }

  // ---------------------------------------------------------------- lifecycle

  /** Create tables, load silences, resend undelivered notifications, start the timer. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#stopped = false;
    await this.#o.store.init();
    this.#silences = await this.#o.store.listSilences();
    await this.#loadPermanentFailures();
    const pending = await this.#o.store.listOutbox({ status: ['pending'] });
    if (pending.length) this.#log.info({ pending: pending.length }, 'resending undelivered notifications from the outbox');
    await this.#serial(() => this.#tick());
  }

  /** Stop the timer and wait for sends in flight (each bounded by its notifier's timeout). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#started = false;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = undefined;
    await Promise.allSettled([...this.#inFlight.values()]);
    await this.#chain.catch(() => {});
  }

  // ---------------------------------------------------------------- transitions

  /** A check went down: open an incident (once) and page its route. Returns the open incident. */
  checkDown(input: CheckDownInput): Promise<Incident> {
    return this.#serial(async () => {
      const existing = await this.#o.store.findOpenIncident(input.check);
      if (existing) return existing;
      const now = this.#o.clock.now();
      const labels = input.labels ?? {};
      const id = randomUUID();
      const route = resolveRoute(this.#o.routes, { check: input.check, labels });
      const details = normaliseDetails(input.reason, 'down', input.details);
      const incident: Incident = {
        id,
        check: input.check,
        labels,
        dedupKey: `quietwatch/${id}/${input.check}`.slice(0, PD_DEDUP_MAX),
        status: 'open',
        severity: input.severity ?? 'critical',
        summary: input.summary ?? `${input.check} is down: ${input.reason}`,
        reason: input.reason,
        details,
        openedAt: input.at,
        notifiers: [...route.page],
      };
      const held = silenceState({ check: input.check, labels }, now, this.#silences, this.#windows);
      if (!held.silenced) incident.releasedAt = now;
      const n = this.#notification(incident, 'trigger', now, { summary: incident.summary, details });
      const rows = route.page.map((name) => this.#row(name, n, held.silenced ? 'held' : 'pending', now));
      await this.#o.store.commit({ incident, insert: rows });
      this.#incidentLog(incident).warn(
        { notifiers: route.page, held: held.silenced, silenced_by: held.by, until: held.until },
        held.silenced ? 'incident opened; page held by a silence' : 'incident opened; paging',
      );
      this.#kick();
      return incident;
    });
  }

  /** A check is ok again: resolve its open incident with the same dedup key. No incident, no message. */
  checkRecovered(input: CheckRecoveredInput): Promise<Incident | undefined> {
    return this.#serial(async () => {
      const inc = await this.#o.store.findOpenIncident(input.check);
      if (!inc) return undefined;
      const now = this.#o.clock.now();
      const resolved: Incident = { ...inc, status: 'resolved', resolvedAt: input.at, resolveReason: input.reason };
      if (inc.releasedAt === undefined) {
        // Opened and recovered within a silence: nobody was paged, nobody needs a resolve.
        const held = await this.#o.store.listOutbox({ status: ['held'], incidentId: inc.id });
        await this.#o.store.commit({
          incident: resolved,
          update: [{ ids: held.map((r) => r.id), set: { status: 'cancelled' } }],
        });
        this.#incidentLog(inc).info('incident resolved during a silence; held page cancelled');
      } else {
        const given = normaliseDetails(input.reason, 'ok', input.details);
        // Keep the links and who acked; the down-time facts (silence length, last event) are stale now.
        const { runbookUrl, dashboardUrl, ackedBy } = inc.details;
        const details: NotificationDetails = {
          runbookUrl,
          dashboardUrl,
          ackedBy,
          ...given,
          escalated: inc.escalatedAt !== undefined || undefined,
        };
        const n = this.#notification(resolved, 'resolve', now, { summary: `${inc.check} recovered: ${input.reason}`, details });
        await this.#o.store.commit({ incident: resolved, insert: resolved.notifiers.map((name) => this.#row(name, n, 'pending', now)) });
        this.#incidentLog(inc).info('incident resolved');
      }
      this.#kick();
      return resolved;
    });
  }

  /** A warning (quiet, probe refused, budget…): the warning route only, never PagerDuty. */
  warning(input: WarningInput): Promise<Notification> {
    return this.#serial(async () => {
      const now = this.#o.clock.now();
      const labels = input.labels ?? {};
      const route = resolveRoute(this.#o.routes, { check: input.check, labels });
      const names = route.warning.filter((n) => this.#o.notifiers[n]?.kind !== 'pagerduty');
      const reason = typeof input.details?.reason === 'string' ? input.details.reason : input.summary;
      const details: NotificationDetails = {
        ...normaliseDetails(reason, input.kind === 'quiet' ? 'quiet' : 'warning', input.details),
        warningKind: input.kind,
      };
      const n: Notification = {
        id: randomUUID(),
        dedupKey: `quietwatch-warning/${input.kind}/${input.check}/${input.at}`.slice(0, PD_DEDUP_MAX),
        action: 'warning',
        severity: 'warning',
        check: input.check,
        labels,
        summary: input.summary,
        createdAt: now,
        details,
      };
      const s = silenceState({ check: input.check, labels }, now, this.#silences, this.#windows);
      await this.#o.store.commit({ insert: names.map((name) => this.#row(name, n, s.silenced ? 'suppressed' : 'pending', now)) });
      this.#log.info({ check: input.check, kind: input.kind, notifiers: names, suppressed: s.silenced }, 'warning');
      this.#kick();
      return n;
    });
  }

  /** Someone is on it: acknowledge everywhere the page went. */
  ack(incidentId: string, by: string): Promise<Incident> {
    return this.#serial(async () => {
      const inc = await this.#o.store.getIncident(incidentId);
      if (!inc) throw new AlertInputError('NOT_FOUND', `no incident ${incidentId}`);
      if (inc.status !== 'open') return inc; // already acknowledged, or resolved
      const now = this.#o.clock.now();
      const acked: Incident = { ...inc, status: 'acknowledged', ackedAt: now, ackedBy: by };
      const details: NotificationDetails = { ...inc.details, ackedBy: by, state: 'down', escalated: inc.escalatedAt !== undefined || undefined };
      const n = this.#notification(acked, 'acknowledge', now, { summary: `${inc.check}: acknowledged by ${by}`, details });
      const status = inc.releasedAt === undefined ? 'held' : 'pending';
      await this.#o.store.commit({ incident: acked, insert: acked.notifiers.map((name) => this.#row(name, n, status, now)) });
      this.#incidentLog(inc).info({ by }, 'incident acknowledged');
      this.#kick();
      return acked;
    });
  }

  // ---------------------------------------------------------------- queries

  /** The manager's clock (the API uses it to turn `for: 2h` into times). */
  now(): number {
    return this.#o.clock.now();
  }

  listIncidents(q: { open?: boolean; check?: string; limit?: number } = {}): Promise<Incident[]> {
    return this.#o.store.listIncidents(q);
  }

  getIncident(id: string): Promise<Incident | undefined> {
    return this.#o.store.getIncident(id);
  }

  /** The outbox rows of one incident (for the API and tests). */
  deliveries(incidentId: string): Promise<OutboxRow[]> {
    return this.#o.store.listOutbox({ incidentId });
  }

  addSilence(s: NewSilence): Promise<Silence> {
    return this.#serial(async () => {
      const hasLabels = Object.keys(s.matchers.labels ?? {}).length > 0;
      if (s.matchers.check === undefined && !hasLabels) throw new AlertInputError('INVALID', 'give a check or labels', 'check');
      if (!(s.endsAt > s.startsAt)) throw new AlertInputError('INVALID', 'endsAt must be after startsAt', 'endsAt');
      const silence: Silence = { id: randomUUID(), ...s, createdAt: this.#o.clock.now() };
      await this.#o.store.insertSilence(silence);
      this.#silences = [...this.#silences, silence];
      this.#log.info({ silence }, 'silence added');
      this.#kick();
      return silence;
    });
  }

  /** Every stored silence, past ones included (the API marks which are active). */
  listSilences(): Promise<Silence[]> {
    return this.#o.store.listSilences();
  }

  /** Maintenance windows from config (read-only). */
  listWindows(): MaintenanceWindow[] {
    return [...this.#windows];
  }

  deleteSilence(id: string): Promise<boolean> {
    return this.#serial(async () => {
      const ok = await this.#o.store.deleteSilence(id);
      this.#silences = this.#silences.filter((s) => s.id !== id);
      if (ok) this.#log.info({ silence_id: id }, 'silence deleted');
      this.#kick();
      return ok;
    });
  }

  async health(): Promise<AlertHealth> {
    const pending = await this.#o.store.listOutbox({ status: ['pending'] });
    const permanentFailures = [...this.#permanent.values()];
    return {
      ok: permanentFailures.length === 0,
      permanentFailures,
      pendingPages: pending.filter((r) => PAGE_ACTIONS.has(r.notification.action)).length,
    };
  }

  // ---------------------------------------------------------------- the loop

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#chain.then(fn, fn);
    this.#chain = p.catch(() => {});
    return p;
  }

  /** Ask for a tick soon (coalesced). */
  #kick(): void {
    if (this.#stopped || !this.#started || this.#tickQueued) return;
    this.#tickQueued = true;
    queueMicrotask(() => {
      this.#tickQueued = false;
      void this.#serial(() => this.#tick()).catch((err) => this.#log.error({ err }, 'alert loop failed'));
    });
  }

  /** Release, escalate, remind, deliver what is due, and set the one timer for what comes next. */
  async #tick(): Promise<void> {
    if (this.#stopped) return;
    const now = this.#o.clock.now();
    let next = Infinity;
    // Matching only needs silences that are not over yet (the store keeps the history).
    this.#silences = this.#silences.filter((s) => s.endsAt > now);
    const open = await this.#o.store.listIncidents({ open: true, limit: 1_000_000 });
    for (const inc of open) {
      const w = await this.#incidentDue(inc, now);
      next = Math.min(next, w);
    }
    next = Math.min(next, await this.#deliverDue(now));
    this.#arm(next, now);
  }

  /** Handle one open incident's timed duties; return when it next needs attention. */
  async #incidentDue(inc: Incident, now: number): Promise<number> {
    let next = Infinity;
    // 1. Held by a silence: release when no silence covers it any more.
    if (inc.releasedAt === undefined) {
      const s = silenceState({ check: inc.check, labels: inc.labels }, now, this.#silences, this.#windows);
      if (s.silenced) return s.until ?? Infinity;
      const held = await this.#o.store.listOutbox({ status: ['held'], incidentId: inc.id });
      inc = { ...inc, releasedAt: now };
      await this.#o.store.commit({
        incident: inc,
        update: [{ ids: held.map((r) => r.id), set: { status: 'pending', nextAttemptAt: now } }],
      });
      this.#incidentLog(inc).warn({ rows: held.length }, 'silence over and incident still open; sending the held page');
    }
    const releasedAt = inc.releasedAt!;

    // 2. Escalation: the page is not delivered in time (or failed for good): use the fallback route.
    const esc = this.#o.escalation;
    if (esc && esc.fallback.length && inc.escalatedAt === undefined && inc.status === 'open') {
      const pageRows = (await this.#o.store.listOutbox({ incidentId: inc.id })).filter(
        (r) => r.notification.action === 'trigger' && !r.notification.details.escalated,
      );
      // What pages a human is the pager (PagerDuty, webhook, SNS); chat counts only when it is all there is.
      const pagers = pageRows.filter((r) => !CHAT_KINDS.has(this.#o.notifiers[r.notifier]?.kind ?? ''));
      const undelivered = (pagers.length ? pagers : pageRows).filter((r) => r.status !== 'delivered');
      const failed = undelivered.some((r) => r.status === 'failed');
      const deadline = releasedAt + esc.after;
      if (undelivered.length && (failed || now >= deadline)) {
        inc = await this.#escalate(inc, now, undelivered.map((r) => r.notifier));
      } else if (undelivered.length) {
        next = Math.min(next, deadline);
      }
    }

    // 3. Reminders for unacknowledged incidents (chat notifiers; PagerDuty re-notifies by itself).
    const every = this.#o.reminderEvery;
    if (every && every > 0 && inc.status === 'open') {
      const due = (inc.lastReminderAt ?? releasedAt) + every;
      if (now >= due) {
        const names = inc.notifiers.filter((n) => this.#o.notifiers[n] && this.#o.notifiers[n]!.kind !== 'pagerduty');
        const since = now - inc.openedAt;
        const n = this.#notification(inc, 'reminder', now, {
          summary: `${inc.check} still down after ${Math.round(since / 60_000)} min, not acknowledged`,
          details: { ...inc.details, state: 'down', escalated: inc.escalatedAt !== undefined || undefined },
        });
        inc = { ...inc, lastReminderAt: now };
        await this.#o.store.commit({ incident: inc, insert: names.map((name) => this.#row(name, n, 'pending', now)) });
        this.#incidentLog(inc).info({ notifiers: names }, 'reminder');
        next = Math.min(next, now + every);
      } else {
        next = Math.min(next, due);
      }
    }
    return next;
  }

  async #escalate(inc: Incident, now: number, stuck: string[]): Promise<Incident> {
    const esc = this.#o.escalation!;
    const fallback = esc.fallback.filter((n) => !inc.notifiers.includes(n));
    const chat = inc.notifiers.filter((n) => CHAT_KINDS.has(this.#o.notifiers[n]?.kind ?? ''));
    const details: NotificationDetails = {
      ...inc.details,
      escalated: true,
      extra: { ...inc.details.extra, undeliveredTo: stuck, fallback: esc.fallback },
    };
    const n = this.#notification(inc, 'trigger', now, { summary: inc.summary, details });
    const escalated: Incident = {
      ...inc,
      escalatedAt: now,
      details: { ...inc.details, escalated: true },
      notifiers: [...inc.notifiers, ...fallback],
    };
    await this.#o.store.commit({
      incident: escalated,
      insert: [...fallback, ...chat].map((name) => this.#row(name, n, 'pending', now)),
    });
    this.#incidentLog(inc).error({ stuck, fallback }, 'page not delivered in time; escalating through the fallback route');
    return escalated;
  }

  /** Start every due, deliverable row; return the earliest future retry time. */
  async #deliverDue(now: number): Promise<number> {
    const pending = await this.#o.store.listOutbox({ status: ['pending'] });
    // Rows for one (notifier, incident) go strictly in order: only the first pending one may be sent.
    const first = new Map<string, OutboxRow>();
    for (const r of pending) {
      const key = r.incidentId ? `${r.notifier}\u0000${r.incidentId}` : r.id;
      if (!first.has(key)) first.set(key, r);
    }
    let next = Infinity;
    for (const r of first.values()) {
      if (this.#inFlight.has(r.id)) continue;
      const unclaimed = this.#unclaimed.get(r.id);
      if (unclaimed !== undefined && unclaimed > now) {
        next = Math.min(next, unclaimed);
        continue;
      }
      this.#unclaimed.delete(r.id);
      if (r.nextAttemptAt > now) {
        next = Math.min(next, r.nextAttemptAt);
        continue;
      }
      const p = this.#deliver(r)
        .catch((err) => this.#log.error({ err, row: r.id }, 'delivery bookkeeping failed'))
        .finally(() => {
          this.#inFlight.delete(r.id);
          this.#kick();
        });
      this.#inFlight.set(r.id, p);
    }
    return next;
  }

  async #deliver(row: OutboxRow): Promise<void> {
    const n = row.notification;
    const notifier = this.#o.notifiers[row.notifier];
    const log = this.#log.child({ check: n.check, incident_id: n.incidentId, notifier: row.notifier, action: n.action });
    const attempt = row.attempts + 1;
    if (!notifier) {
      await this.#o.store.updateOutbox(row.id, {
        status: 'failed',
        attempts: attempt,
        lastErrorCode: 'NOTIFIER_UNKNOWN',
        lastError: `notifier "${row.notifier}" is not configured any more`,
        permanent: true,
      });
      this.#permanent.set(row.notifier, {
        notifier: row.notifier,
        code: 'NOTIFIER_UNKNOWN',
        message: `notifier "${row.notifier}" is not configured any more`,
        at: this.#o.clock.now(),
      });
      log.error('notification for a notifier that is not configured; dropped');
      return;
    }
    if (this.#o.store.claim && !(await this.#o.store.claim(row.id))) {
      log.warn({ row: row.id }, 'notification not sent: this replica does not hold the leader lease (or the row is no longer pending)');
      this.#unclaimed.set(row.id, this.#o.clock.now() + 1000); // look again in a second, not in a loop
      return;
    }
    const prior = row.incidentId ? await this.#o.store.getReceipt(row.notifier, row.incidentId) : undefined;
    const t0 = this.#o.clock.now();
    const record = (outcome: DeliveryRecord['outcome'], code?: string) =>
      this.#o.onDelivery?.({
        notifier: row.notifier,
        kind: notifier.kind,
        action: n.action,
        incidentId: n.incidentId,
        outcome,
        attempt,
        latencyMs: this.#o.clock.now() - t0,
        code,
        escalated: n.details.escalated,
      });
    try {
      const receipt = await notifier.send(n, prior);
      const now = this.#o.clock.now();
      // The receipt and the delivered mark land together, so a resend always sees the receipt.
      await this.#o.store.commit({
        update: [{ ids: [row.id], set: { status: 'delivered', attempts: attempt, deliveredAt: now, lastErrorCode: null, lastError: null } }],
        receipts:
          row.incidentId && Object.keys(receipt).length ? [{ notifier: row.notifier, incidentId: row.incidentId, receipt }] : [],
      });
      this.#permanent.delete(row.notifier);
      log.info({ attempt, latency_ms: now - t0 }, 'notification delivered');
      record('delivered');
    } catch (e) {
      const err =
        e instanceof QuietwatchError
          ? e
          : new RetryableError('NOTIFIER_UNEXPECTED', `notifier threw: ${(e as Error)?.message ?? String(e)}`);
      const now = this.#o.clock.now();
      if (!err.retryable) {
        await this.#o.store.updateOutbox(row.id, {
          status: 'failed',
          attempts: attempt,
          lastErrorCode: err.code,
          lastError: err.message,
          permanent: true,
        });
        this.#permanent.set(row.notifier, { notifier: row.notifier, code: err.code, message: err.message, at: now });
        log.error({ code: err.code, error: err.message, attempt }, 'notification failed permanently; not retrying');
        record('failed', err.code);
        return;
      }
      const policy = this.#o.retry;
      const delay = backoffDelay(policy, attempt, this.#random(), err.retryAfterMs);
      // Pages are never given up: they are retried (at most maxDelay apart) until the receiver takes them,
      // and escalation covers the wait. Warnings and reminders stop at the policy's attempts / deadline.
      const isPage = PAGE_ACTIONS.has(n.action);
      const exhausted = attempt >= policy.maxAttempts || now + delay - row.createdAt > policy.deadlineMs;
      if (!isPage && exhausted) {
        await this.#o.store.updateOutbox(row.id, {
          status: 'failed',
          attempts: attempt,
          lastErrorCode: err.code,
          lastError: err.message,
          permanent: false,
        });
        log.error({ code: err.code, error: err.message, attempt }, 'notification gave up after retries');
        record('failed', err.code);
        return;
      }
      await this.#o.store.updateOutbox(row.id, {
        attempts: attempt,
        nextAttemptAt: now + delay,
        lastErrorCode: err.code,
        lastError: err.message,
      });
      log.warn({ code: err.code, error: err.message, attempt, retry_in_ms: Math.round(delay) }, 'notification failed; will retry');
      record('retry', err.code);
    }
  }

  #arm(next: number, now: number): void {
    if (this.#stopped) return;
    if (next === Infinity) {
      if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = undefined;
      return;
    }
    const at = Math.min(next, now + MAX_SLEEP_MS);
    if (this.#timer !== undefined && this.#timerAt === at) return;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = undefined;
      this.#kick();
    }, Math.max(0, at - now));
  }

  // ---------------------------------------------------------------- helpers

  #notification(
    inc: Incident,
    action: NotificationAction,
    now: number,
    p: { summary: string; details: NotificationDetails },
  ): Notification {
    return {
      id: randomUUID(),
      incidentId: inc.id,
      dedupKey: inc.dedupKey,
      action,
      severity: inc.severity,
      check: inc.check,
      labels: inc.labels,
      summary: p.summary,
      createdAt: now,
      details: stripUndefined(p.details),
    };
  }

  #row(notifier: string, n: Notification, status: NewOutboxRow['status'], now: number): NewOutboxRow {
    return {
      id: `${n.id}/${notifier}`,
      notifier,
      incidentId: n.incidentId,
      notification: n,
      status,
      nextAttemptAt: now,
      createdAt: now,
    };
  }

  #incidentLog(inc: Incident): Logger {
    return this.#log.child({ check: inc.check, incident_id: inc.id });
  }

  async #loadPermanentFailures(): Promise<void> {
    // The latest outcome per notifier decides: a permanent failure not followed by a delivery.
    const rows = await this.#o.store.listOutbox({ status: ['delivered', 'failed'] });
    const latest = new Map<string, OutboxRow>();
    for (const r of rows) {
      const prev = latest.get(r.notifier);
      const t = r.deliveredAt ?? r.nextAttemptAt;
      if (!prev || t >= (prev.deliveredAt ?? prev.nextAttemptAt)) latest.set(r.notifier, r);
    }
    for (const [name, r] of latest) {
      if (r.status === 'failed' && r.permanent) {
        this.#permanent.set(name, { notifier: name, code: r.lastErrorCode ?? 'UNKNOWN', message: r.lastError ?? '', at: r.nextAttemptAt });
      }
    }
  }
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
