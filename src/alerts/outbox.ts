/**
 * The alert store interface: incidents, the notification outbox, receipts per (notifier, incident),
 * and ad hoc silences. Async so a PostgreSQL implementation can follow the SQLite one.
 *
 * Outbox discipline: a notification is written here (status `pending`, or `held` while a silence
 * covers its check) BEFORE it is sent, and marked `delivered` only after the receiver accepted it.
 * On start the manager sends every `pending` row again; the receiver-side dedup key makes a repeat
 * harmless.
 */
import type { Member } from './grouping.ts';
import type { Incident, Notification, Receipt, Silence } from './types.ts';

export type OutboxStatus =
  /** Waiting to be sent (or retried at `nextAttemptAt`). */
  | 'pending'
  /** Held by a silence: sent when the silence ends if the incident is still open. */
  | 'held'
  | 'delivered'
  /** A permanent error, or a non-page notification that ran out of retries. */
  | 'failed'
  /** Held, then the incident resolved during the silence: never sent. */
  | 'cancelled'
  /** A warning during a silence: recorded, never sent. */
  | 'suppressed';

export interface OutboxRow {
  /** Insertion order; rows for one (notifier, incident) are sent in this order. */
  seq: number;
  id: string;
  notifier: string;
  incidentId?: string;
  notification: Notification;
  status: OutboxStatus;
  attempts: number;
  nextAttemptAt: number;
  createdAt: number;
  deliveredAt?: number;
  lastErrorCode?: string;
  lastError?: string;
  /** True when the last failure was permanent (surfaced in health()). */
  permanent?: boolean;
}

export type NewOutboxRow = Pick<OutboxRow, 'id' | 'notifier' | 'incidentId' | 'notification' | 'status' | 'nextAttemptAt' | 'createdAt'>;

export interface OutboxUpdate {
  status?: OutboxStatus;
  attempts?: number;
  nextAttemptAt?: number;
  deliveredAt?: number;
  lastErrorCode?: string | null;
  lastError?: string | null;
  permanent?: boolean;
}

/**
 * One atomic change: incident upserts, member upserts/removals, new outbox rows, status changes of
 * existing rows, receipts. Applied in that order.
 */
export interface AlertCommit {
  incident?: Incident;
  /** More incidents to upsert (a batch). */
  incidents?: Incident[];
  /** Upsert (incident, member.check). */
  members?: { incidentId: string; member: Member }[];
  /** A held member released from the upstream's incident moves to its own: the old row goes. */
  removeMembers?: { incidentId: string; check: string }[];
  insert?: NewOutboxRow[];
  update?: { ids: string[]; set: OutboxUpdate }[];
  receipts?: { notifier: string; incidentId: string; receipt: Receipt }[];
}

/** The newest delivered-or-failed row of a notifier (its health at start-up). */
export interface NotifierOutcome {
  notifier: string;
  status: 'delivered' | 'failed';
  permanent: boolean;
  code?: string;
  message?: string;
  at: number;
}

/**
 * The AlertManager keeps the working set (open incidents, their members, undelivered rows) in memory
 * and writes every change here, in batches (`commitAll`, one transaction for many changes). It reads
 * the store at start-up (`listOpenIncidents`, `listMembers`, `listOutbox({status: ['pending','held']})`,
 * `latestOutcomes`) and for history (API). A write that fails is kept and retried by the manager, in
 * order; the implementation must make each `commitAll` all-or-nothing.
 */
export interface AlertStore {
  /** Create the tables if needed. Idempotent. */
  init(): Promise<void>;
  commit(c: AlertCommit): Promise<void>;
  /**
   * Apply every commit, in order, in ONE transaction: all or nothing. (Optional for now: without
   * it the manager calls `commit` once per change, which is correct but slow in a storm.)
   */
  commitAll?(cs: readonly AlertCommit[]): Promise<void>;

  /** Every open (open or acknowledged) incident. Start-up only. (Optional: else `listIncidents({open: true})`.) */
  listOpenIncidents?(): Promise<Incident[]>;
  /**
   * The members of the given incidents (for the open incidents at start-up). Required as soon as
   * `commit` stores `members`; without it an incident is loaded with its first check as its only member.
   */
  listMembers?(incidentIds: readonly string[]): Promise<{ incidentId: string; member: Member }[]>;
  /** Per notifier, its newest delivered or failed row. (Optional: else derived from `listOutbox`.) */
  latestOutcomes?(): Promise<NotifierOutcome[]>;

  getIncident(id: string): Promise<Incident | undefined>;
  /** The open (open or acknowledged) incident a check is a member of, if any. */
  findOpenIncident(check: string): Promise<Incident | undefined>;
  /** Newest first. `check` matches the incident's first check and every member. */
  listIncidents(q?: { open?: boolean; check?: string; limit?: number }): Promise<Incident[]>;

  /** Rows in `seq` order. */
  listOutbox(q?: { status?: OutboxStatus[]; incidentId?: string; notifier?: string; limit?: number }): Promise<OutboxRow[]>;
  updateOutbox(id: string, set: OutboxUpdate): Promise<void>;
  /**
   * Optional (stores shared by replicas): take a pending row for sending with a conditional update
   * carrying the leader lease's fencing token. False: do not send it (no longer pending, or this
   * replica lost the lease).
   */
  claim?(id: string): Promise<boolean>;

  getReceipt(notifier: string, incidentId: string): Promise<Receipt | undefined>;
  putReceipt(notifier: string, incidentId: string, receipt: Receipt): Promise<void>;

  insertSilence(s: Silence): Promise<void>;
  listSilences(): Promise<Silence[]>;
  deleteSilence(id: string): Promise<boolean>;
}
