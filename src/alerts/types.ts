/**
 * The alerting vocabulary: a Notification (a plain JSON record kept in the outbox), the one small
 * Notifier interface every integration implements, and the records the AlertManager keeps.
 */

export type NotificationAction = 'trigger' | 'acknowledge' | 'resolve' | 'reminder' | 'warning';
export type Severity = 'critical' | 'error' | 'warning' | 'info';
export type WarningKind = 'quiet' | 'probe-refused' | 'probe-error' | 'probe-lost' | 'budget';

/** What on-call needs to act, carried by every notification. All fields JSON-serialisable. */
export interface NotificationDetails {
  reason: string;
  /** Check state when the notification was made: 'down', 'ok', 'quiet', … */
  state: string;
  lastEventAt?: number;
  /** How long the check has been silent, ms. */
  silenceMs?: number;
  /** What normal looks like, e.g. "1 event every 0.8 s". */
  normal?: string;
  /** The probe in flight, or the newest one settled during this silence (firedAt/settledAt epoch ms). */
  probe?: { id: string; result: string; reference?: string; latencyMs?: number; firedAt?: number; settledAt?: number; message?: string; reason?: string };
  runbookUrl?: string;
  dashboardUrl?: string;
  /** Set when the page could not be delivered in time and went out through the fallback route. */
  escalated?: boolean;
  /** Who acknowledged, for acknowledge notifications. */
  ackedBy?: string;
  /** For warnings: which kind. */
  warningKind?: WarningKind;
  extra?: Record<string, unknown>;
}

export interface Notification {
  id: string;
  incidentId?: string;
  /** Stable per incident (PagerDuty dedup_key); per warning for warnings. */
  dedupKey: string;
  action: NotificationAction;
  severity: Severity;
  check: string;
  labels: Record<string, string>;
  summary: string;
  /** Epoch ms. */
  createdAt: number;
  details: NotificationDetails;
}

/**
 * What a receiver gave back, kept per (notifier, incident) so later actions refer to the same thing:
 * Slack `{channel, ts}` (edit the same message), PagerDuty `{dedup_key}`.
 */
export type Receipt = Record<string, string>;

export const NOTIFIER_KINDS = ['pagerduty', 'slack', 'slack-webhook', 'webhook', 'sns'] as const;
export type NotifierKind = (typeof NOTIFIER_KINDS)[number];

/**
 * One integration. `send` throws only RetryableError or PermanentError (src/lib/errors.ts);
 * it never retries by itself — the AlertManager applies the one shared retry policy.
 */
export interface Notifier {
  readonly kind: NotifierKind;
  readonly name: string;
  send(n: Notification, prior?: Receipt): Promise<Receipt>;
}

export type IncidentStatus = 'open' | 'acknowledged' | 'resolved';

export interface Incident {
  id: string;
  check: string;
  labels: Record<string, string>;
  dedupKey: string;
  status: IncidentStatus;
  severity: Severity;
  summary: string;
  reason: string;
  details: NotificationDetails;
  openedAt: number;
  /** When the page was released to notifiers (later than openedAt when it was held by a silence). */
  releasedAt?: number;
  ackedAt?: number;
  ackedBy?: string;
  resolvedAt?: number;
  resolveReason?: string;
  escalatedAt?: number;
  lastReminderAt?: number;
  /** Notifier names that got (or are getting) this incident's trigger. */
  notifiers: string[];
}

export interface SilenceMatchers {
  check?: string;
  labels?: Record<string, string>;
}

export interface Silence {
  id: string;
  matchers: SilenceMatchers;
  startsAt: number;
  endsAt: number;
  reason: string;
  createdBy: string;
  createdAt: number;
}

/** A recurring maintenance window from config. */
export interface MaintenanceWindow {
  name: string;
  /** 5- or 6-field cron expression for the window start, read in `timezone`. */
  cron: string;
  durationMs: number;
  /** IANA time zone, e.g. Europe/London. */
  timezone: string;
  matchers: SilenceMatchers;
}

/** Reported after each delivery attempt (for metrics). */
export interface DeliveryRecord {
  notifier: string;
  kind: NotifierKind;
  action: NotificationAction;
  incidentId?: string;
  outcome: 'delivered' | 'retry' | 'failed';
  attempt: number;
  latencyMs: number;
  code?: string;
  escalated?: boolean;
}
