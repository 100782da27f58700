/**
 * The alert store interface: incidents, the notification outbox, receipts per (notifier, incident),
 * and ad hoc silences. Async so a PostgreSQL implementation can follow the SQLite one.
 *
 * Outbox discipline: a notification is written here (status `pending`, or `held` while a silence
 * covers its check) BEFORE it is sent, and marked `delivered` only after the receiver accepted it.
 * On start the manager sends every `pending` row again; the receiver-side dedup key makes a repeat
 * harmless.
 */
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

/** One atomic change: an incident upsert, new outbox rows, status changes of existing rows, receipts. */
export interface AlertCommit {
  incident?: Incident;
  insert?: NewOutboxRow[];
  update?: { ids: string[]; set: OutboxUpdate }[];
  receipts?: { notifier: string; incidentId: string; receipt: Receipt }[];
}

export interface AlertStore {
  /** Create the tables if needed. Idempotent. */
  init(): Promise<void>;
  commit(c: AlertCommit): Promise<void>;

  getIncident(id: string): Promise<Incident | undefined>;
  /** The open (open or acknowledged) incident of a check, if any. */
  findOpenIncident(check: string): Promise<Incident | undefined>;
  /** Newest first. */
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
