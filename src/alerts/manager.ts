/**
 * AlertManager: the one object the rest of quietwatch calls. It turns check transitions into
 * incidents and notifications, writes every notification to the outbox before sending it, delivers
 * with the one retry policy, escalates pages that cannot be delivered in time, reminds about unacked
 * incidents, holds pages while a silence or maintenance window covers the check, groups checks that
 * go down together into one incident (grouping.ts), and holds dependents while an upstream is down
 * (dependencies.ts).
 *
 * Cost is what is due, not what is open. The working set — open incidents, their members, the rows
 * not yet delivered — lives in memory, indexed by check and by group; each incident's and each row's
 * next duty sits in one min-heap, and ONE timer wakes for its top. A wake-up does bounded work and
 * yields to the event loop (setImmediate) before the next slice, so the API and /healthz stay
 * responsive in a storm of 100,000 checks.
 *
 * The store is written behind, in batches: every change is appended to a journal that is committed
 * in one transaction per turn of the event loop. A row is sent only once it is stored (the outbox
 * rule) — unless the store cannot be written: then the page goes out from memory anyway (a deadman
 * pages harder when its own disk fails), the journal is retried with backoff, in order, and health
 * says `degraded: ['store']` until it is stored.
 */
import { randomUUID } from 'node:crypto';
import { systemTimers, type Clock, type Timers as ClockTimers } from '../lib/clock.ts';
import { QuietwatchError, RetryableError } from '../lib/errors.ts';
import { MinHeap } from '../lib/heap.ts';
import { BurstLog, type Logger } from '../lib/logger.ts';
import { backoffDelay, type RetryPolicy } from '../lib/retry.ts';
import { resolveRoute, type AlertRoutes } from './config.ts';
import { downUpstream, formatProblem, validateDependencies } from './dependencies.ts';
import {
  canJoin,
  DEFAULT_GROUP_POLICY,
  groupOf,
  countMembers,
  groupSummary,
  memberDetails,
  type MemberCounts,
  updateDueAt,
  type GroupInfo,
  type GroupPolicy,
  type Member,
} from './grouping.ts';
import type { AlertCommit, AlertStore, NewOutboxRow, NotifierOutcome, OutboxRow } from './outbox.ts';
import { silenceState } from './silences.ts';
import type {
  DeliveryRecord,
  Incident,
  MaintenanceWindow,
  Notification,
  NotificationAction,
  NotificationDetails,
  Notifier,
  Receipt,
  Severity,
  Silence,
  SilenceMatchers,
  WarningKind,
} from './types.ts';

/** The one-shot half of the one timer source (src/lib/clock.ts). */
export type Timers = Pick<ClockTimers, 'setTimeout' | 'clearTimeout'>;

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
  /** Which checks share an incident (default: one incident per route, window 30 s). */
  group?: Partial<GroupPolicy>;
  /** check -> the upstream checks it depends on (`checks[].dependsOn`). Cycles are refused. */
  dependencies?: ReadonlyMap<string, readonly string[]>;
  /** Sends in flight per notifier (default 8). */
  maxInFlightPerNotifier?: number;
  timers?: Timers;
  random?: () => number;
  onDelivery?: (record: DeliveryRecord) => void;
  /** A page pending longer than this makes health() degraded (`pages-late`); default 60 s. */
  pendingPageAlarmMs?: number;
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

export interface StoreHealth {
  ok: boolean;
  /** Since when writes fail (epoch ms). */
  failingSince?: number;
  code?: string;
  message?: string;
  /** Changes kept in memory, not yet stored. */
  unsaved: number;
}

export interface AlertHealth {
  ok: boolean;
  /** Components that are not as they should be: `store` (alert writes failing), `notifier:<name>` (permanent failure). */
  degraded: string[];
  permanentFailures: PermanentFailure[];
  /** Page notifications (trigger / acknowledge / resolve) accepted but not yet delivered. */
  pendingPages: number;
  /** How long the oldest of them has waited (0 when none); past `pendingPageAlarmMs` health says `pages-late`. */
  oldestPendingPageMs: number;
  /** Notifiers whose last attempt failed and are retrying (also `notifier:<name>` in degraded). */
  failingNotifiers: Array<{ notifier: string; code: string; message: string; attempts: number }>;
  store: StoreHealth;
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

/** An incident as the manager keeps it: the stored record plus its group (kept in the same JSON). */
export type GroupedIncident = Incident & { group?: GroupInfo };

const PAGE_ACTIONS: ReadonlySet<NotificationAction> = new Set(['trigger', 'acknowledge', 'resolve']);
const CHAT_KINDS = new Set(['slack', 'slack-webhook']);
/** setTimeout's limit is 2^31-1 ms; wake at least this often and recompute. */
const MAX_SLEEP_MS = 60 * 60_000;
const PD_DEDUP_MAX = 255;
/** Duties handled per slice before yielding to the event loop. */
const SLICE = 500;
/** Journal entries per transaction. */
const FLUSH_BATCH = 1_000;
const STORE_RETRY_MIN_MS = 500;
const STORE_RETRY_MAX_MS = 30_000;


/**
 * The members of a storm go down for the same reason text ("no events: silent 1m30s; limits: …"):
 * each member keeps one shared copy instead of its own (88 bytes a member at 100,000). Bounded.
 */
const reasonTexts = new Map<string, string>();
function sharedReason(reason: string): string {
  let r = reasonTexts.get(reason);
  if (r === undefined) {
    if (reasonTexts.size >= 1024) reasonTexts.clear();
    reasonTexts.set(reason, (r = reason));
  }
  return r;
}

interface Open {
  inc: GroupedIncident;
  members: Map<string, Member>;
  /** The first page (non-escalated trigger) per notifier: has it reached the receiver? */
  paged: Map<string, 'pending' | 'delivered' | 'failed'>;
  /** The time its heap entry is for (lazy deletion: other entries for it are stale). */
  dueAt: number;
  counts: MemberCounts;
  /** Members changed since the summary was last written. */
  stale: boolean;
}

interface Row extends OutboxRow {
  /** On disk (the outbox rule: sent only once stored, unless the store is failing). */
  persisted: boolean;
  /** Its heap entry's time, or undefined when none is armed. */
  armedAt?: number;
}

type Duty = { kind: 'incident'; id: string } | { kind: 'row'; id: string } | { kind: 'store' };

interface JournalEntry {
  commit: AlertCommit;
  rows: Row[];
  /** Its place among all writes (a waiter is released once every write up to its own is stored). */
  seq: number;
}

export class AlertManager {
  readonly #o: AlertManagerOptions;
  readonly #log: Logger;
  /** Lines that come one per check (warnings, held dependents): summarised in a storm. */
  readonly #burst: BurstLog;
  readonly #timers: Timers;
  readonly #random: () => number;
  readonly #windows: MaintenanceWindow[];
  readonly #policy: GroupPolicy;
  readonly #deps: ReadonlyMap<string, readonly string[]>;
  readonly #maxInFlight: number;
  #silences: Silence[] = [];
  #started = false;
  #stopped = false;
  #loaded: Promise<void> | undefined;
  #timer: unknown;
  #timerAt: number | undefined;
  #inFlight = new Map<string, Promise<void>>();
  #inFlightBy = new Map<string, number>();
  #ready = new Map<string, Row[]>();
  #permanent = new Map<string, PermanentFailure>();

  // The working set.
  #open = new Map<string, Open>();
  #byCheck = new Map<string, string>();
  #byGroup = new Map<string, string>();
  #rows = new Map<string, Row>();
  /** Undelivered rows per (notifier, incident), in order: only the head may be sent. */
  #queues = new Map<string, Row[]>();
  #receipts = new Map<string, Receipt>();
  /** upstream check -> dependents held behind it. */
  #heldBy = new Map<string, Set<string>>();
  /** Incidents changed since the last flush: the latest version of each is written once per batch. */
  #dirty = new Map<string, GroupedIncident>();
  #heap = new MinHeap<Duty>();
  #seq = 0;
  #running = false;
  /** While releasing dependents: the incident they were held in, which they must not join. */
  #noJoin: string | undefined;

  // Write-behind.
  /** Changes with outbox rows, receipts, updates: stored first, so pages wait for as little as possible. */
  #journal: JournalEntry[] = [];
  /** Member-only changes (a storm's 100,000 joins): stored after, in their own order. */
  #bulk: JournalEntry[] = [];
  #flushQueued = false;
  #flushing: Promise<void> | undefined;
  /** Callers waiting for their writes to be stored, in order: `upTo` is the last write they wait for. */
  #flushWaiters: { upTo: number; resolve: () => void }[] = [];
  /** Writes so far; `#dirtyAt` is the latest write of each dirty incident. */
  #writes = 0;
  #dirtyAt = new Map<string, number>();
  #storeFailure: { since: number; code: string; message: string; attempts: number; retryAt: number } | undefined;

  constructor(opts: AlertManagerOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ component: 'alerts' });
    this.#burst = new BurstLog(this.#log);
    this.#timers = opts.timers ?? systemTimers;
    this.#random = opts.random ?? Math.random;
    this.#windows = opts.silences ?? [];
    this.#policy = { ...DEFAULT_GROUP_POLICY, ...opts.group };
    this.#deps = opts.dependencies ?? new Map();
    this.#maxInFlight = opts.maxInFlightPerNotifier ?? 8;
    this.#validate();
  }

  /** Fail at start-up, not at 3 a.m.: every routed notifier must exist, warnings never page, no dependency cycles. */
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
    // Names are not known here (a dependency on an unconfigured check is refused by the config schema); cycles are.
    const names = new Set([...this.#deps.keys(), ...[...this.#deps.values()].flat()]);
    const checks = [...names].map((name) => ({ name, dependsOn: this.#deps.get(name) ?? [] }));
    for (const p of validateDependencies(checks)) if (p.message.startsWith('dependency cycle') || p.message.includes('itself')) problems.push(formatProblem(p).replace(/^checks\[\d+\]/, `dependencies`));
    if (problems.length) throw new Error(`alerts config: ${problems.join('; ')}`);
  }

  // ---------------------------------------------------------------- lifecycle

  /** Create tables, load the working set, resend undelivered notifications, start the timer. */
  async start(): Promise<void> {
    if (this.#started) return this.#loaded;
    this.#started = true;
    this.#stopped = false;
    this.#loaded = this.#load();
    await this.#loaded;
  }

  async #load(): Promise<void> {
    const store = this.#o.store;
    await store.init();
    this.#silences = await store.listSilences();
    for (const o of await latestOutcomes(store)) {
      if (o.status === 'failed' && o.permanent) this.#permanent.set(o.notifier, { notifier: o.notifier, code: o.code ?? 'UNKNOWN', message: o.message ?? '', at: o.at });
    }
    const incidents = (await (store.listOpenIncidents?.() ?? store.listIncidents({ open: true, limit: Number.MAX_SAFE_INTEGER }))) as GroupedIncident[];
    const members = (await store.listMembers?.(incidents.map((i) => i.id))) ?? [];
    const byIncident = new Map<string, Member[]>();
    for (const m of members) {
      const list = byIncident.get(m.incidentId) ?? [];
      list.push(m.member);
      byIncident.set(m.incidentId, list);
    }
    const loadedAt = this.#o.clock.now();
    for (let inc of incidents) {
      // The service's own downtime does not age a group's window: checks the restart rule restarted
      // mid-storm go down again one pageAfter after the start, into the outage's open incident.
      if (inc.group) inc = { ...inc, group: { ...inc.group, lastJoinAt: Math.max(inc.group.lastJoinAt, loadedAt) } };
      const list = byIncident.get(inc.id) ?? [{ check: inc.check, labels: inc.labels, status: 'down', downAt: inc.openedAt, reason: inc.reason } satisfies Member];
      const open: Open = { inc, members: new Map(list.map((m) => [m.check, m])), paged: new Map(), dueAt: Infinity, counts: countMembers(list), stale: false };
      this.#open.set(inc.id, open);
      for (const m of list) {
        this.#byCheck.set(m.check, inc.id);
        if (m.status === 'held' && m.heldBy) this.#held(m.heldBy, m.check, true);
      }
      const key = inc.group?.key ?? groupOf(this.#policy, this.#o.routes, { check: inc.check, labels: inc.labels }).key;
      const prev = this.#byGroup.get(key);
      if (!prev || this.#open.get(prev)!.inc.openedAt <= inc.openedAt) this.#byGroup.set(key, inc.id);
    }
    // The first page's fate per notifier (escalation needs it), for open incidents that may still escalate.
    if (this.#o.escalation?.fallback.length) {
      for (const open of this.#open.values()) {
        if (open.inc.escalatedAt !== undefined || open.inc.status !== 'open') continue;
        for (const r of await store.listOutbox({ incidentId: open.inc.id })) {
          if (r.notification.action === 'trigger' && !r.notification.details.escalated && !open.paged.has(r.notifier)) {
            open.paged.set(r.notifier, r.status === 'delivered' ? 'delivered' : r.status === 'failed' ? 'failed' : 'pending');
          }
        }
      }
    }
    const pending = await store.listOutbox({ status: ['pending', 'held'] });
    if (pending.length) this.#log.info({ pending: pending.length }, 'resending undelivered notifications from the outbox');
    for (const r of pending) this.#enqueue({ ...r, seq: ++this.#seq, persisted: true });
    const now = this.#o.clock.now();
    this.#silences = this.#silences.filter((s) => s.endsAt > now);
    for (const open of this.#open.values()) this.#reschedule(open, now);
    for (const q of this.#queues.values()) this.#armHead(q);
    this.#run();
  }

  /** Stop the timer, wait for sends in flight (each bounded by its notifier's timeout), store what is left. */
  async stop(): Promise<void> {
    await this.#loaded?.catch(() => undefined);
    this.#stopped = true;
    this.#started = false;
    this.#loaded = undefined;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = undefined;
    await Promise.allSettled([...this.#inFlight.values()]);
    if (this.#unsaved()) await this.#flush().catch(() => undefined);
  }

  /** Calls before start() wait for it; after stop() they still record (the next start sends). */
  async #whenLoaded(): Promise<void> {
    if (this.#loaded) await this.#loaded;
  }

  // ---------------------------------------------------------------- transitions

  /**
   * A check went down: open an incident and page its route, or join the open incident of its group,
   * or — while an upstream it depends on is down — be held in the upstream's incident. Returns the
   * incident the check is in. Resolves once the change is stored (or kept in memory, store failing).
   */
  checkDown(input: CheckDownInput): Promise<Incident> {
    // Not an async function: its frame would keep the input (and its details) until the write is
    // stored, and a storm has 100,000 of them waiting. Applied in the same turn as before.
    return this.#whenLoaded().then(() => {
      const inc = this.#down(input, this.#o.clock.now());
      return this.#stored().then(() => inc);
    });
  }

  #down(input: CheckDownInput, now: number): Incident {
    const labels = input.labels ?? {};
    const inId = this.#byCheck.get(input.check);
    if (inId) {
      const open = this.#open.get(inId)!;
      const m = open.members.get(input.check)!;
      if (m.status !== 'recovered') return open.inc;
      // Down again while its incident is still open: the same outage, no new page.
      const upstream = downUpstream(this.#deps, input.check, (c) => this.#isDown(c));
      this.#setMember(open, { ...m, status: upstream ? 'held' : 'down', downAt: input.at, reason: sharedReason(input.reason), heldBy: upstream, recoveredAt: undefined }, now);
      return open.inc;
    }
    const member: Member = { check: input.check, labels, status: 'down', downAt: input.at, reason: sharedReason(input.reason) };

    // Held behind an upstream that is down: recorded in the upstream's incident, never paged on its own.
    const upstream = downUpstream(this.#deps, input.check, (c) => this.#isDown(c));
    if (upstream) {
      const open = this.#open.get(this.#byCheck.get(upstream)!)!;
      this.#byCheck.set(input.check, open.inc.id);
      this.#setMember(open, { ...member, status: 'held', heldBy: upstream }, now);
      this.#burst.line('warn', 'page held', input.check, { incident_id: open.inc.id, dependent: input.check, upstream }, `page held: ${upstream} is down`);
      return open.inc;
    }

    const g = groupOf(this.#policy, this.#o.routes, { check: input.check, labels });
    const gid = this.#byGroup.get(g.key);
    const group = gid ? this.#open.get(gid) : undefined;
    if (group?.inc.group && group.inc.id !== this.#noJoin && canJoin(this.#policy, group.inc.group, input.at)) {
      // Judged at the time the check went down, not now: a flip restored after a restart (or one
      // late in a storm) belongs to the outage it was part of, however long the restart took.
      this.#byCheck.set(input.check, group.inc.id);
      this.#setMember(group, member, now, input.at);
      this.#log.debug({ check: input.check, incident_id: group.inc.id }, 'joined the open incident of its group');
      return group.inc;
    }
    return this.#openIncident(input, member, g, now);
  }

  #openIncident(input: CheckDownInput, member: Member, g: { key: string; name: string }, now: number): Incident {
    const labels = member.labels;
    const id = randomUUID();
    const route = resolveRoute(this.#o.routes, { check: input.check, labels });
    const details = normaliseDetails(input.reason, 'down', input.details);
    const incident: GroupedIncident = {
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
      group: { key: g.key, name: g.name, lastJoinAt: Math.max(input.at, now), version: 0, notifiedVersion: 0, updates: 0 },
    };
    const held = silenceState({ check: input.check, labels }, now, this.#silences, this.#windows);
    if (!held.silenced) incident.releasedAt = now;
    const open: Open = {
      inc: incident,
      members: new Map([[member.check, member]]),
      paged: new Map(route.page.map((n) => [n, 'pending'])),
      dueAt: Infinity,
      counts: countMembers([member]),
      stale: false,
    };
    this.#open.set(id, open);
    this.#byCheck.set(input.check, id);
    this.#byGroup.set(g.key, id);
    const n = this.#notification(incident, 'trigger', now, { summary: incident.summary, details });
    const rows = route.page.map((name) => this.#row(name, n, held.silenced ? 'held' : 'pending', now));
    this.#write({ incident, members: [{ incidentId: id, member }], insert: rows }, rows);
    this.#incidentLog(incident).warn(
      { notifiers: route.page, held: held.silenced, silenced_by: held.by, until: held.until, group: g.key },
      held.silenced ? 'incident opened; page held by a silence' : 'incident opened; paging',
    );
    this.#reschedule(open, now);
    return incident;
  }

  /** A check is ok again: mark it recovered; the incident resolves (same dedup key) when its last member does. */
  checkRecovered(input: CheckRecoveredInput): Promise<Incident | undefined> {
    // As checkDown: the input is not kept while the write is stored.
    return this.#whenLoaded().then(() => {
      const r = this.#recovered(input, this.#o.clock.now());
      return this.#stored().then(() => r);
    });
  }

  #recovered(input: CheckRecoveredInput, now: number): Incident | undefined {
    const inId = this.#byCheck.get(input.check);
    if (!inId) return undefined;
    const open = this.#open.get(inId)!;
    const m = open.members.get(input.check)!;
    if (m.status === 'recovered') return open.inc;
    const wasDown = m.status === 'down';
    this.#setMember(open, { ...m, status: 'recovered', recoveredAt: input.at }, now);
    if (!wasDown) {
      this.#log.info({ check: input.check, incident_id: open.inc.id }, 'held dependent recovered; it never paged');
      if (open.counts.down === 0) return this.#resolve(open, input, now);
      return open.inc;
    }
    // Dependents this check was holding: still down -> released (they page on their own).
    for (const dep of [...(this.#heldBy.get(input.check) ?? [])]) {
      const home = this.#open.get(this.#byCheck.get(dep) ?? '');
      const d = home?.members.get(dep);
      if (!home || !d || d.status !== 'held') continue;
      const other = downUpstream(this.#deps, d.check, (c) => c !== input.check && this.#isDown(c));
      if (other && this.#byCheck.get(other) === home.inc.id) {
        this.#setMember(home, { ...d, heldBy: other }, now);
        continue;
      }
      this.#release(home, d, input.check, now);
    }
    if (open.counts.down === 0 && this.#open.has(open.inc.id)) return this.#resolve(open, input, now);
    return open.inc;
  }

  /** A held dependent whose upstream recovered while it is still down: out of the upstream's incident, paged on its own. */
  #release(from: Open, d: Member, upstream: string, now: number): void {
    from.members.delete(d.check);
    from.counts[d.status]--;
    from.stale = true;
    if (d.heldBy) this.#held(d.heldBy, d.check, false);
    this.#byCheck.delete(d.check);
    from.inc = { ...from.inc, group: from.inc.group && { ...from.inc.group, version: from.inc.group.version + 1 } };
    this.#write({ incident: from.inc, removeMembers: [{ incidentId: from.inc.id, check: d.check }] }, []);
    this.#log.warn({ check: d.check, upstream }, `${upstream} recovered and ${d.check} is still down: its page is released`);
    // Never back into the incident it was held in (that one is the upstream's outage).
    const prev = this.#noJoin;
    this.#noJoin = from.inc.id;
    try {
      this.#down({ check: d.check, labels: d.labels, at: now, reason: `${d.reason} (held while ${upstream} was down)` }, now);
    } finally {
      this.#noJoin = prev;
    }
  }

  #resolve(open: Open, input: CheckRecoveredInput, now: number): Incident {
    const inc = open.inc;
    // Released dependents must not join the incident that is closing.
    if (inc.group && this.#byGroup.get(inc.group.key) === inc.id) this.#byGroup.delete(inc.group.key);
    // Held dependents still down outlive the upstream's incident: released.
    if (open.counts.held > 0) for (const d of [...open.members.values()]) if (d.status === 'held') this.#release(open, d, d.heldBy ?? input.check, now);
    if (open.counts.down > 0) return open.inc; // a released dependent joined after all
    const size = open.members.size;
    const grouped = size > 1;
    const resolved: GroupedIncident = { ...this.#fresh(open), status: 'resolved', resolvedAt: input.at, resolveReason: input.reason };
    this.#close(open);
    const rows: Row[] = [];
    if (inc.releasedAt === undefined) {
      // Opened and recovered within a silence: nobody was paged, nobody needs a resolve.
      const held = [...this.#rows.values()].filter((r) => r.incidentId === inc.id && r.status === 'held');
      for (const r of held) this.#dequeue(r);
      this.#write({ incident: resolved, update: [{ ids: held.map((r) => r.id), set: { status: 'cancelled' } }] }, []);
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
        ...(grouped ? { extra: { ...given.extra, group: memberDetails(open.members, this.#policy.maxListed) } } : {}),
      };
      const summary = grouped
        ? `all ${size.toLocaleString('en')} checks recovered (last: ${input.check}: ${input.reason})`
        : `${inc.check} recovered: ${input.reason}`;
      const n = this.#notification(resolved, 'resolve', now, { summary, details, check: grouped ? inc.group?.name : undefined });
      for (const name of resolved.notifiers) rows.push(this.#row(name, n, 'pending', now));
      this.#write({ incident: resolved, insert: rows }, rows);
      this.#incidentLog(inc).info({ members: size }, 'incident resolved');
    }
    return resolved;
  }

  #close(open: Open): void {
    this.#open.delete(open.inc.id);
    for (const c of open.members.keys()) if (this.#byCheck.get(c) === open.inc.id) this.#byCheck.delete(c);
    const key = open.inc.group?.key;
    if (key && this.#byGroup.get(key) === open.inc.id) this.#byGroup.delete(key);
    open.dueAt = Infinity;
  }

  #isDown(check: string): boolean {
    const id = this.#byCheck.get(check);
    return id !== undefined && this.#open.get(id)?.members.get(check)?.status === 'down';
  }

  /** Record a member change: stored, counted, the summary marked stale, an update scheduled. O(1). */
  #setMember(open: Open, m: Member, now: number, joinedAt?: number): void {
    const prev = open.members.get(m.check);
    if (prev) {
      open.counts[prev.status]--;
      if (prev.status === 'held' && prev.heldBy) this.#held(prev.heldBy, prev.check, false);
    }
    open.members.set(m.check, m);
    open.counts[m.status]++;
    if (m.status === 'held' && m.heldBy) this.#held(m.heldBy, m.check, true);
    open.stale = true;
    const g = open.inc.group;
    // One copy of the incident per member change (a join also moves lastJoinAt: a storm's 100,000
    // joins made two copies each, ~20 MB of garbage).
    if (g) open.inc = { ...open.inc, group: { ...g, version: g.version + 1, lastChangeAt: now, lastJoinAt: joinedAt === undefined ? g.lastJoinAt : Math.max(g.lastJoinAt, joinedAt) } };
    this.#write({ incident: open.inc, members: [{ incidentId: open.inc.id, member: m }] }, []);
    this.#reschedule(open, now);
  }

  #held(upstream: string, dependent: string, on: boolean): void {
    let set = this.#heldBy.get(upstream);
    if (on) {
      if (!set) this.#heldBy.set(upstream, (set = new Set()));
      set.add(dependent);
    } else if (set) {
      set.delete(dependent);
      if (!set.size) this.#heldBy.delete(upstream);
    }
  }

  /** The incident with its summary brought up to date (a group's summary is computed when read, not per member). */
  #fresh(open: Open): GroupedIncident {
    if (open.stale) {
      open.stale = false;
      if (open.members.size > 1) open.inc = { ...open.inc, summary: groupSummary(open.members.values(), open.counts) };
      else {
        const only = open.members.values().next().value as Member | undefined;
        if (only && only.check === open.inc.check) open.inc = { ...open.inc, summary: `${only.check} is down: ${only.reason}` };
      }
    }
    return open.inc;
  }

  /** A warning (quiet, probe refused, budget…): the warning route only, never PagerDuty. */
  async warning(input: WarningInput): Promise<Notification> {
    await this.#whenLoaded();
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
    const rows = names.map((name) => this.#row(name, n, s.silenced ? 'suppressed' : 'pending', now));
    // No warning route (common with many checks): nothing to store, nothing to wait for.
    if (!rows.length) {
      this.#burst.line('info', 'warning', input.check, { kind: input.kind, notifiers: names, suppressed: s.silenced }, 'warning');
      return n;
    }
    this.#write({ insert: rows }, rows.filter((r) => r.status === 'pending'));
    this.#burst.line('info', 'warning', input.check, { kind: input.kind, notifiers: names, suppressed: s.silenced }, 'warning');
    await this.#stored();
    return n;
  }

  /** Someone is on it: acknowledge everywhere the page went. */
  async ack(incidentId: string, by: string): Promise<Incident> {
    await this.#whenLoaded();
    const open = this.#open.get(incidentId);
    if (!open) {
      const inc = await this.#o.store.getIncident(incidentId);
      if (!inc) throw new AlertInputError('NOT_FOUND', `no incident ${incidentId}`);
      return inc; // resolved
    }
    const inc = open.inc;
    if (inc.status !== 'open') return inc; // already acknowledged
    const now = this.#o.clock.now();
    const acked: GroupedIncident = { ...inc, status: 'acknowledged', ackedAt: now, ackedBy: by };
    open.inc = acked;
    const details: NotificationDetails = { ...inc.details, ackedBy: by, state: 'down', escalated: inc.escalatedAt !== undefined || undefined };
    const n = this.#notification(acked, 'acknowledge', now, { summary: `${open.members.size > 1 ? inc.group?.name ?? inc.check : inc.check}: acknowledged by ${by}`, details });
    const status = inc.releasedAt === undefined ? 'held' : 'pending';
    const rows = acked.notifiers.map((name) => this.#row(name, n, status, now));
    this.#write({ incident: acked, insert: rows }, rows);
    this.#incidentLog(inc).info({ by }, 'incident acknowledged');
    this.#reschedule(open, now);
    await this.#stored();
    return acked;
  }

  // ---------------------------------------------------------------- queries

  /** The manager's clock (the API uses it to turn `for: 2h` into times). */
  now(): number {
    return this.#o.clock.now();
  }

  /** Checks that are down members of an open incident (the restart rule compares them with check states). */
  downChecks(): Set<string> {
    const out = new Set<string>();
    for (const [c, id] of this.#byCheck) {
      const s = this.#open.get(id)?.members.get(c)?.status;
      if (s === 'down' || s === 'held') out.add(c);
    }
    return out;
  }

  /** The members of an open incident (empty when it is not open). */
  members(incidentId: string): Member[] {
    return [...(this.#open.get(incidentId)?.members.values() ?? [])];
  }

  async listIncidents(q: { open?: boolean; check?: string; limit?: number } = {}): Promise<Incident[]> {
    await this.#whenLoaded();
    const limit = q.limit ?? 500;
    if (q.open === true && this.#started) {
      let list: Open[];
      if (q.check) {
        const id = this.#byCheck.get(q.check);
        list = id ? [this.#open.get(id)!] : [];
      } else list = [...this.#open.values()];
      return list
        .map((o) => this.#fresh(o))
        .sort((a, b) => b.openedAt - a.openedAt)
        .slice(0, limit);
    }
    const stored = await this.#o.store.listIncidents(q);
    return stored.map((i) => {
      const o = this.#open.get(i.id);
      return o ? this.#fresh(o) : i;
    });
  }

  async getIncident(id: string): Promise<Incident | undefined> {
    const open = this.#open.get(id);
    if (open) return this.#fresh(open);
    return this.#dirty.get(id) ?? this.#o.store.getIncident(id);
  }

  /** The outbox rows of one incident (for the API and tests). */
  async deliveries(incidentId: string): Promise<OutboxRow[]> {
    let stored: OutboxRow[] = [];
    try {
      stored = await this.#o.store.listOutbox({ incidentId });
    } catch (err) {
      this.#log.warn({ err }, 'could not read the outbox; showing what is in memory');
    }
    const byId = new Map(stored.map((r) => [r.id, r]));
    for (const r of this.#rows.values()) if (r.incidentId === incidentId) byId.set(r.id, strip(r));
    return [...byId.values()];
  }

  async addSilence(s: NewSilence): Promise<Silence> {
    await this.#whenLoaded();
    const hasLabels = Object.keys(s.matchers.labels ?? {}).length > 0;
    if (s.matchers.check === undefined && !hasLabels) throw new AlertInputError('INVALID', 'give a check or labels', 'check');
    if (!(s.endsAt > s.startsAt)) throw new AlertInputError('INVALID', 'endsAt must be after startsAt', 'endsAt');
    const silence: Silence = { id: randomUUID(), ...s, createdAt: this.#o.clock.now() };
    await this.#o.store.insertSilence(silence);
    this.#silences = [...this.#silences, silence];
    this.#log.info({ silence }, 'silence added');
    return silence;
  }

  /** Every stored silence, past ones included (the API marks which are active). */
  listSilences(): Promise<Silence[]> {
    return this.#o.store.listSilences();
  }

  /** Maintenance windows from config (read-only). */
  listWindows(): MaintenanceWindow[] {
    return [...this.#windows];
  }

  async deleteSilence(id: string): Promise<boolean> {
    await this.#whenLoaded();
    const ok = await this.#o.store.deleteSilence(id);
    this.#silences = this.#silences.filter((s) => s.id !== id);
    if (ok) this.#log.info({ silence_id: id }, 'silence deleted');
    // Held pages of incidents this silence covered may go now.
    const now = this.#o.clock.now();
    for (const open of this.#open.values()) if (open.inc.releasedAt === undefined) this.#reschedule(open, now, now);
    return ok;
  }

  async health(): Promise<AlertHealth> {
    const permanentFailures = [...this.#permanent.values()];
    const now = this.#o.clock.now();
    let pendingPages = 0;
    let oldestPendingPageAt = Infinity;
    // A notifier whose last attempt at a pending notification failed (retrying: 503, timeouts) is
    // degraded now, not only once its retries run out.
    const failing = new Map<string, { notifier: string; code: string; message: string; attempts: number }>();
    for (const r of this.#rows.values()) {
      if (r.status !== 'pending') continue;
      if (PAGE_ACTIONS.has(r.notification.action)) {
        pendingPages++;
        oldestPendingPageAt = Math.min(oldestPendingPageAt, r.createdAt);
      }
      if (r.attempts > 0 && r.lastErrorCode) failing.set(r.notifier, { notifier: r.notifier, code: r.lastErrorCode, message: r.lastError ?? '', attempts: r.attempts });
    }
    const oldestPendingPageMs = Number.isFinite(oldestPendingPageAt) ? Math.max(0, now - oldestPendingPageAt) : 0;
    const pagesLate = oldestPendingPageMs > (this.#o.pendingPageAlarmMs ?? 60_000);
    const f = this.#storeFailure;
    const store: StoreHealth = f
      ? { ok: false, failingSince: f.since, code: f.code, message: f.message, unsaved: this.#unsaved() }
      : { ok: true, unsaved: this.#unsaved() };
    const notifiers = new Set([...permanentFailures.map((p) => p.notifier), ...failing.keys()]);
    const degraded = [...(f ? ['store'] : []), ...(pagesLate ? ['pages-late'] : []), ...[...notifiers].map((n) => `notifier:${n}`)];
    return { ok: degraded.length === 0, degraded, permanentFailures, failingNotifiers: [...failing.values()], pendingPages, oldestPendingPageMs, store };
  }

  // ---------------------------------------------------------------- write-behind

  /** Append a change to the journal; it is committed with the others of this turn of the event loop. */
  #write(commit: AlertCommit, rows: Row[]): void {
    const seq = ++this.#writes;
    if (commit.incident) {
      // Only the latest version of an incident is written, once per batch.
      this.#dirty.set(commit.incident.id, commit.incident);
      this.#dirtyAt.set(commit.incident.id, seq);
      const { incident: _i, ...rest } = commit;
      commit = rest;
    }
    const keys = Object.keys(commit);
    if (!keys.length && !rows.length) {
      // only an incident: it is in #dirty
    } else if (!rows.length && keys.every((k) => k === 'members' || k === 'removeMembers')) this.#bulk.push({ commit, rows, seq });
    else this.#journal.push({ commit, rows, seq });
    // Rows are deliverable from memory right away when the store is failing.
    if (this.#storeFailure) for (const r of rows) this.#armIfHead(r);
    if (!this.#flushQueued && !this.#storeFailure) {
      this.#flushQueued = true;
      setImmediate(() => {
        this.#flushQueued = false;
        void this.#flush();
      });
    }
  }

  /** Resolves once everything written so far is stored, or known to be kept in memory (store failing). */
  #stored(): Promise<void> {
    if (!this.#unsaved() || this.#storeFailure) return Promise.resolve();
    const upTo = this.#writes;
    return new Promise((resolve) => this.#flushWaiters.push({ upTo, resolve }));
  }

  /** Release the waiters whose writes are all stored (the rest wait for later batches). */
  #releaseWaiters(): void {
    let min = Math.min(this.#journal[0]?.seq ?? Infinity, this.#bulk[0]?.seq ?? Infinity);
    for (const at of this.#dirtyAt.values()) if (at < min) min = at;
    const w = this.#flushWaiters;
    let i = 0;
    while (i < w.length && w[i]!.upTo < min) w[i++]!.resolve();
    if (i) w.splice(0, i);
  }

  async #flush(): Promise<void> {
    if (this.#flushing) return this.#flushing;
    this.#flushing = (async () => {
      try {
        for (let n = 0; this.#unsaved(); n++) {
          // A storm's 100,000 member writes are 20 transactions: the event loop gets a turn between them
          // (a store that answers synchronously, like SQLite, would otherwise hold it for a second).
          if (n > 0) await new Promise<void>((r) => setImmediate(r));
          // Rows first (a page waits for its own row, not for a storm's member writes), then members.
          const from = this.#journal.length ? this.#journal : this.#bulk;
          const batch = from.slice(0, FLUSH_BATCH);
          // Incidents go with the first batches (a stored row's incident is stored with it or before).
          // The stored summary of a growing group is brought up to date when it is sent or read, not per
          // batch (that would cost O(members) per batch in a storm).
          const dirty: GroupedIncident[] = [];
          const dirtyAt: number[] = [];
          for (const [id, i] of this.#dirty) {
            if (dirty.length >= FLUSH_BATCH) break;
            dirty.push(this.#open.get(id)?.inc ?? i);
            dirtyAt.push(this.#dirtyAt.get(id)!);
            this.#dirty.delete(id);
            this.#dirtyAt.delete(id);
          }
          const commits = batch.map((j) => j.commit);
          if (dirty.length) commits.unshift({ incidents: dirty });
          try {
            const store = this.#o.store;
            if (store.commitAll) await store.commitAll(commits);
            else for (const c of commits) await store.commit(c);
          } catch (err) {
            // Put the incidents back unless a newer version was written meanwhile.
            dirty.forEach((i, k) => {
              if (this.#dirty.has(i.id)) return;
              this.#dirty.set(i.id, i);
              this.#dirtyAt.set(i.id, dirtyAt[k]!);
            });
            this.#storeFailed(err);
            return;
          }
          from.splice(0, batch.length);
          for (const j of batch) for (const r of j.rows) this.#persisted(r);
          // A long storm keeps the loop going: whoever waits for what is stored now goes on now.
          this.#releaseWaiters();
          if (this.#storeFailure) {
            this.#log.warn({ failing_for_ms: this.#o.clock.now() - this.#storeFailure.since }, 'alert store writable again; changes kept in memory are stored');
            this.#storeFailure = undefined;
          }
        }
      } finally {
        this.#flushing = undefined;
        // Stored, or kept in memory (the store is failing): nobody waits any longer.
        const waiters = this.#flushWaiters;
        this.#flushWaiters = [];
        for (const w of waiters) w.resolve();
      }
    })();
    return this.#flushing;
  }

  #unsaved(): number {
    return this.#journal.length + this.#bulk.length + this.#dirty.size;
  }

  #storeFailed(err: unknown): void {
    const now = this.#o.clock.now();
    const e = err as { code?: string; message?: string };
    const prev = this.#storeFailure;
    const attempts = (prev?.attempts ?? 0) + 1;
    const delay = Math.min(STORE_RETRY_MAX_MS, STORE_RETRY_MIN_MS * 2 ** Math.min(attempts - 1, 10));
    this.#storeFailure = { since: prev?.since ?? now, code: String(e?.code ?? 'STORE_WRITE_FAILED'), message: String(e?.message ?? err), attempts, retryAt: now + delay };
    if (!prev) {
      this.#log.error({ err, unsaved: this.#unsaved() }, 'alert store cannot be written: pages go out from memory; retrying the write');
      // Everything waiting to be stored may be sent now.
      for (const j of this.#journal) for (const r of j.rows) this.#armIfHead(r);
    }
    this.#heap.push(now + delay, { kind: 'store' });
    this.#run();
  }

  #persisted(r: Row): void {
    r.persisted = true;
    this.#armIfHead(r);
  }

  // ---------------------------------------------------------------- the loop

  #reschedule(open: Open, now: number, at?: number): void {
    const due = at ?? this.#incidentNext(open, now);
    // A later due keeps the armed entry: it wakes, finds nothing to do yet, and re-arms (one heap
    // entry per incident, not one per member that joins).
    if (due === open.dueAt || (due > open.dueAt && open.dueAt !== Infinity)) return;
    open.dueAt = due;
    if (due !== Infinity) {
      this.#heap.push(due, { kind: 'incident', id: open.inc.id });
      this.#run();
    }
  }

  /** When an open incident next needs attention: release from a silence, group update, escalation, reminder. */
  #incidentNext(open: Open, now: number): number {
    const inc = open.inc;
    if (inc.releasedAt === undefined) {
      const s = silenceState({ check: inc.check, labels: inc.labels }, now, this.#silences, this.#windows);
      return s.silenced ? (s.until ?? Infinity) : now;
    }
    let next = Infinity;
    if (inc.group && inc.status === 'open') {
      const u = updateDueAt(this.#policy, inc.group, inc.releasedAt);
      // While an earlier message is undelivered the update waits for it (and then shows more).
      if (u !== undefined) next = Math.min(next, this.#busy(open) ? Math.max(u, now + this.#policy.settleMs) : u);
    }
    const esc = this.#o.escalation;
    if (esc && esc.fallback.length && inc.escalatedAt === undefined && inc.status === 'open' && this.#undeliveredPages(open).length) {
      next = Math.min(next, [...open.paged.values()].includes('failed') ? now : inc.releasedAt + esc.after);
    }
    const every = this.#o.reminderEvery;
    if (every && every > 0 && inc.status === 'open') next = Math.min(next, (inc.lastReminderAt ?? inc.releasedAt) + every);
    return next;
  }

  #busy(open: Open): boolean {
    return open.inc.notifiers.some((n) => (this.#queues.get(`${n}\u0000${open.inc.id}`)?.length ?? 0) > 0);
  }

  /** Pagers (PagerDuty, webhook, SNS) whose first page is not delivered; chat counts only when it is all there is. */
  #undeliveredPages(open: Open): string[] {
    const all = [...open.paged.keys()];
    const pagers = all.filter((n) => !CHAT_KINDS.has(this.#o.notifiers[n]?.kind ?? ''));
    return (pagers.length ? pagers : all).filter((n) => open.paged.get(n) !== 'delivered');
  }

  /** Work through what is due, a slice at a time, yielding between slices; then arm the one timer. */
  #run(): void {
    if (this.#running || this.#stopped || !this.#started) return;
    this.#running = true;
    setImmediate(() => {
      this.#running = false;
      if (this.#stopped) return;
      const now = this.#o.clock.now();
      let done = 0;
      for (;;) {
        const top = this.#heap.peek();
        if (!top || top.key > now) break;
        if (done >= SLICE) return this.#run(); // more is due: yield first
        this.#heap.pop();
        if (this.#duty(top.value, top.key, now)) done++;
      }
      this.#arm(this.#heap.peek()?.key ?? Infinity, now);
    });
  }

  /** Do one due duty; false when its heap entry was stale. */
  #duty(d: Duty, at: number, now: number): boolean {
    if (d.kind === 'store') {
      const f = this.#storeFailure;
      if (!f || f.retryAt !== at) return false;
      void this.#flush();
      return true;
    }
    if (d.kind === 'row') {
      const r = this.#rows.get(d.id);
      if (!r || r.armedAt !== at) return false;
      r.armedAt = undefined;
      const ready = this.#ready.get(r.notifier);
      if (ready) ready.push(r);
      else this.#ready.set(r.notifier, [r]);
      this.#pump(r.notifier);
      return true;
    }
    const open = this.#open.get(d.id);
    if (!open || open.dueAt !== at) return false;
    open.dueAt = Infinity;
    this.#incidentDue(open, now);
    if (this.#open.has(open.inc.id)) this.#reschedule(open, now);
    return true;
  }

  /** Handle one open incident's timed duties. */
  #incidentDue(open: Open, now: number): void {
    // Matching only needs silences that are not over yet (the store keeps the history).
    this.#silences = this.#silences.filter((s) => s.endsAt > now);
    let inc = open.inc;
    // 1. Held by a silence: release when no silence covers it any more.
    if (inc.releasedAt === undefined) {
      const s = silenceState({ check: inc.check, labels: inc.labels }, now, this.#silences, this.#windows);
      if (s.silenced) return;
      const held = [...this.#rows.values()].filter((r) => r.incidentId === inc.id && r.status === 'held');
      inc = open.inc = { ...inc, releasedAt: now };
      for (const r of held) {
        r.status = 'pending';
        r.nextAttemptAt = now;
      }
      this.#write({ incident: inc, update: [{ ids: held.map((r) => r.id), set: { status: 'pending', nextAttemptAt: now } }] }, held);
      this.#incidentLog(inc).warn({ rows: held.length }, 'silence over and incident still open; sending the held page');
    }
    const releasedAt = inc.releasedAt!;

    // 2. Group update: members joined or recovered since the last page.
    const g = inc.group;
    const upd = g && inc.status === 'open' ? updateDueAt(this.#policy, g, releasedAt) : undefined;
    if (g && upd !== undefined && now >= upd) {
      // One update at a time per receiver: while an earlier one is undelivered, the next waits (and shows more).
      if (!this.#busy(open)) {
        inc = this.#fresh(open);
        const size = open.members.size;
        const details: NotificationDetails = {
          ...inc.details,
          state: 'down',
          escalated: inc.escalatedAt !== undefined || undefined,
          extra: { ...inc.details.extra, group: memberDetails(open.members, this.#policy.maxListed) },
        };
        const n = this.#notification(inc, 'trigger', now, { summary: inc.summary, details, check: size > 1 ? g.name : undefined });
        inc = open.inc = { ...inc, group: { ...g, notifiedVersion: g.version, lastUpdateAt: now, updates: g.updates + 1 } };
        const rows = inc.notifiers.map((name) => this.#row(name, n, 'pending', now));
        this.#write({ incident: inc, insert: rows }, rows);
        this.#incidentLog(inc).info({ members: size, summary: inc.summary }, 'group update');
      }
    }

    // 3. Escalation: the page is not delivered in time (or failed for good): use the fallback route.
    const esc = this.#o.escalation;
    if (esc && esc.fallback.length && inc.escalatedAt === undefined && inc.status === 'open') {
      const undelivered = this.#undeliveredPages(open);
      const failed = undelivered.some((n) => open.paged.get(n) === 'failed');
      if (undelivered.length && (failed || now >= releasedAt + esc.after)) this.#escalate(open, now, undelivered);
    }

    // 4. Reminders for unacknowledged incidents (chat notifiers; PagerDuty re-notifies by itself).
    const every = this.#o.reminderEvery;
    inc = open.inc;
    if (every && every > 0 && inc.status === 'open' && now >= (inc.lastReminderAt ?? releasedAt) + every) {
      const names = inc.notifiers.filter((n) => this.#o.notifiers[n] && this.#o.notifiers[n]!.kind !== 'pagerduty');
      const since = now - inc.openedAt;
      const who = open.members.size > 1 ? (inc.group?.name ?? inc.check) : inc.check;
      const n = this.#notification(inc, 'reminder', now, {
        summary: `${who} still down after ${Math.round(since / 60_000)} min, not acknowledged`,
        details: { ...inc.details, state: 'down', escalated: inc.escalatedAt !== undefined || undefined },
      });
      inc = open.inc = { ...inc, lastReminderAt: now };
      const rows = names.map((name) => this.#row(name, n, 'pending', now));
      this.#write({ incident: inc, insert: rows }, rows);
      this.#incidentLog(inc).info({ notifiers: names }, 'reminder');
    } else if (open.inc !== inc) {
      this.#write({ incident: open.inc }, []);
    }
  }

  #escalate(open: Open, now: number, stuck: string[]): void {
    const inc = open.inc;
    const esc = this.#o.escalation!;
    const fallback = esc.fallback.filter((n) => !inc.notifiers.includes(n));
    const chat = inc.notifiers.filter((n) => CHAT_KINDS.has(this.#o.notifiers[n]?.kind ?? ''));
    const details: NotificationDetails = {
      ...inc.details,
      escalated: true,
      extra: { ...inc.details.extra, undeliveredTo: stuck, fallback: esc.fallback },
    };
    const n = this.#notification(inc, 'trigger', now, { summary: inc.summary, details, check: open.members.size > 1 ? inc.group?.name : undefined });
    const escalated: GroupedIncident = {
      ...inc,
      escalatedAt: now,
      details: { ...inc.details, escalated: true },
      notifiers: [...inc.notifiers, ...fallback],
    };
    open.inc = escalated;
    const rows = [...fallback, ...chat].map((name) => this.#row(name, n, 'pending', now));
    this.#write({ incident: escalated, insert: rows }, rows);
    this.#incidentLog(inc).error({ stuck, fallback }, 'page not delivered in time; escalating through the fallback route');
  }

  #queueKey(r: { notifier: string; incidentId?: string; id: string }): string {
    return r.incidentId ? `${r.notifier}\u0000${r.incidentId}` : r.id;
  }

  /** Add an undelivered row to the working set (in order behind the rows of its notifier and incident). */
  #enqueue(r: Row): void {
    this.#rows.set(r.id, r);
    const k = this.#queueKey(r);
    const q = this.#queues.get(k);
    if (q) q.push(r);
    else this.#queues.set(k, [r]);
  }

  #dequeue(r: Row): void {
    this.#rows.delete(r.id);
    r.armedAt = undefined;
    const k = this.#queueKey(r);
    const q = this.#queues.get(k);
    if (!q) return;
    const i = q.indexOf(r);
    if (i >= 0) q.splice(i, 1);
    if (!q.length) this.#queues.delete(k);
    else this.#armHead(q);
  }

  #armHead(q: Row[]): void {
    const head = q[0];
    if (head) this.#armIfHead(head);
  }

  /** Put a row on the heap for its next attempt if it is first in line, pending and stored (or the store is failing). */
  #armIfHead(r: Row): void {
    if (r.status !== 'pending' || !this.#rows.has(r.id) || this.#inFlight.has(r.id)) return;
    if (!r.persisted && !this.#storeFailure) return;
    if (this.#queues.get(this.#queueKey(r))?.[0] !== r) return;
    if (r.armedAt === r.nextAttemptAt) return;
    r.armedAt = r.nextAttemptAt;
    this.#heap.push(r.nextAttemptAt, { kind: 'row', id: r.id });
    this.#run();
  }

  /** Start sends for a notifier up to its in-flight limit. */
  #pump(notifier: string): void {
    const ready = this.#ready.get(notifier);
    if (!ready) return;
    while (ready.length && (this.#inFlightBy.get(notifier) ?? 0) < this.#maxInFlight) {
      const r = ready.shift()!;
      if (!this.#rows.has(r.id) || r.status !== 'pending' || this.#inFlight.has(r.id)) continue;
      this.#inFlightBy.set(notifier, (this.#inFlightBy.get(notifier) ?? 0) + 1);
      const p = this.#deliver(r)
        .catch((err) => this.#log.error({ err, row: r.id }, 'delivery bookkeeping failed'))
        .finally(() => {
          this.#inFlight.delete(r.id);
          this.#inFlightBy.set(notifier, (this.#inFlightBy.get(notifier) ?? 1) - 1);
          if (!this.#stopped) {
            this.#armIfHead(r);
            this.#pump(notifier);
          }
        });
      this.#inFlight.set(r.id, p);
    }
    if (!ready.length) this.#ready.delete(notifier);
  }

  async #receipt(notifier: string, incidentId: string): Promise<Receipt | undefined> {
    const k = `${notifier}\u0000${incidentId}`;
    const mem = this.#receipts.get(k);
    if (mem) return mem;
    try {
      return await this.#o.store.getReceipt(notifier, incidentId);
    } catch {
      return undefined;
    }
  }

  async #deliver(row: Row): Promise<void> {
    const n = row.notification;
    const notifier = this.#o.notifiers[row.notifier];
    const log = this.#log.child({ check: n.check, incident_id: n.incidentId, notifier: row.notifier, action: n.action });
    const attempt = row.attempts + 1;
    const firstPage = n.action === 'trigger' && !n.details.escalated && n.incidentId ? this.#open.get(n.incidentId) : undefined;
    if (!notifier) {
      this.#settle(row, { status: 'failed', attempts: attempt, lastErrorCode: 'NOTIFIER_UNKNOWN', lastError: `notifier "${row.notifier}" is not configured any more`, permanent: true });
      this.#permanent.set(row.notifier, { notifier: row.notifier, code: 'NOTIFIER_UNKNOWN', message: `notifier "${row.notifier}" is not configured any more`, at: this.#o.clock.now() });
      if (firstPage?.paged.has(row.notifier)) firstPage.paged.set(row.notifier, 'failed');
      log.error('notification for a notifier that is not configured; dropped');
      return;
    }
    // A store shared by replicas (PostgreSQL): take the row with the leader lease's fencing token just
    // before sending; refused (another replica leads, or this one's lease lapsed) -> not sent here.
    if (this.#o.store.claim && !(await this.#o.store.claim(row.id).catch(() => false))) {
      log.warn({ row: row.id }, 'notification not sent: this replica does not hold the leader lease');
      row.nextAttemptAt = this.#o.clock.now() + 1000; // looked at again in a second, not in a loop
      return;
    }
    const prior = row.incidentId ? await this.#receipt(row.notifier, row.incidentId) : undefined;
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
      const hasReceipt = row.incidentId !== undefined && Object.keys(receipt).length > 0;
      if (hasReceipt) this.#receipts.set(`${row.notifier}\u0000${row.incidentId}`, receipt);
      // The receipt and the delivered mark land together, so a resend always sees the receipt.
      this.#settle(
        row,
        { status: 'delivered', attempts: attempt, deliveredAt: now, lastErrorCode: null, lastError: null },
        hasReceipt ? [{ notifier: row.notifier, incidentId: row.incidentId!, receipt }] : [],
      );
      if (firstPage?.paged.has(row.notifier)) {
        firstPage.paged.set(row.notifier, 'delivered');
        this.#reschedule(firstPage, now);
      }
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
        this.#settle(row, { status: 'failed', attempts: attempt, lastErrorCode: err.code, lastError: err.message, permanent: true });
        this.#permanent.set(row.notifier, { notifier: row.notifier, code: err.code, message: err.message, at: now });
        if (firstPage?.paged.has(row.notifier)) {
          firstPage.paged.set(row.notifier, 'failed');
          this.#reschedule(firstPage, now, now);
        }
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
        this.#settle(row, { status: 'failed', attempts: attempt, lastErrorCode: err.code, lastError: err.message, permanent: false });
        log.error({ code: err.code, error: err.message, attempt }, 'notification gave up after retries');
        record('failed', err.code);
        return;
      }
      row.attempts = attempt;
      row.nextAttemptAt = now + delay;
      row.lastErrorCode = err.code;
      row.lastError = err.message;
      this.#write({ update: [{ ids: [row.id], set: { attempts: attempt, nextAttemptAt: now + delay, lastErrorCode: err.code, lastError: err.message } }] }, []);
      log.warn({ code: err.code, error: err.message, attempt, retry_in_ms: Math.round(delay) }, 'notification failed; will retry');
      record('retry', err.code);
    }
  }

  /** A row is done (delivered or failed): out of the working set, the next in line may go. */
  #settle(row: Row, set: Parameters<AlertStore['updateOutbox']>[1], receipts: AlertCommit['receipts'] = []): void {
    Object.assign(row, set);
    this.#write({ update: [{ ids: [row.id], set }], receipts }, []);
    this.#dequeue(row);
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
      this.#run();
    }, Math.max(0, at - now));
  }

  // ---------------------------------------------------------------- helpers

  #notification(
    inc: Incident,
    action: NotificationAction,
    now: number,
    p: { summary: string; details: NotificationDetails; check?: string },
  ): Notification {
    return {
      id: randomUUID(),
      incidentId: inc.id,
      dedupKey: inc.dedupKey,
      action,
      severity: inc.severity,
      check: p.check ?? inc.check,
      labels: inc.labels,
      summary: p.summary,
      createdAt: now,
      details: stripUndefined(p.details),
    };
  }

  #row(notifier: string, n: Notification, status: NewOutboxRow['status'], now: number): Row {
    const r: Row = {
      seq: ++this.#seq,
      id: `${n.id}/${notifier}`,
      notifier,
      ...(n.incidentId ? { incidentId: n.incidentId } : {}),
      notification: n,
      status,
      attempts: 0,
      nextAttemptAt: now,
      createdAt: now,
      persisted: false,
    };
    if (status === 'pending' || status === 'held') this.#enqueue(r);
    return r;
  }

  #incidentLog(inc: Incident): Logger {
    return this.#log.child({ check: inc.check, incident_id: inc.id });
  }
}

/** Per notifier, its newest delivered or failed row (from the store's query, or derived from the outbox). */
async function latestOutcomes(store: AlertStore): Promise<NotifierOutcome[]> {
  if (store.latestOutcomes) return store.latestOutcomes();
  const latest = new Map<string, OutboxRow>();
  for (const r of await store.listOutbox({ status: ['delivered', 'failed'] })) {
    const prev = latest.get(r.notifier);
    if (!prev || r.seq > prev.seq) latest.set(r.notifier, r);
  }
  return [...latest.values()].map((r) => ({
    notifier: r.notifier,
    status: r.status as 'delivered' | 'failed',
    permanent: r.permanent === true,
    ...(r.lastErrorCode ? { code: r.lastErrorCode } : {}),
    ...(r.lastError ? { message: r.lastError } : {}),
    at: r.deliveredAt ?? r.nextAttemptAt,
  }));
}

function strip(r: Row): OutboxRow {
  const { persisted: _p, armedAt: _a, ...rest } = r;
  return rest;
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
