/**
 * PagerDuty Events API v2 payloads. Pure.
 * https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
 * Limits enforced by PagerDuty: routing_key 32 chars, dedup_key <= 255, payload.summary <= 1024.
 */
import type { Notification } from '../types.ts';
import { ANSWER_LABELS, incidentDashboardUrl, onCallAnswers, truncate, type OnCallAnswers } from '../format.ts';

export const PD_SUMMARY_MAX = 1024;
export const PD_DEDUP_KEY_MAX = 255;

export interface PagerDutyEvent {
  routing_key: string;
  event_action: 'trigger' | 'acknowledge' | 'resolve';
  dedup_key: string;
  payload?: {
    summary: string;
    source: string;
    severity: 'critical' | 'error' | 'warning' | 'info';
    timestamp: string;
    component?: string;
    group?: string;
    class?: string;
    custom_details: Record<string, unknown>;
  };
  links?: { href: string; text: string }[];
  client?: string;
  client_url?: string;
}

export interface PagerDutyPayloadOptions {
  source: string;
  component?: string;
  group?: string;
  class?: string;
  client?: string;
  clientUrl?: string;
}

/** The event for a notification, or undefined for actions PagerDuty has no event for (reminder, warning). */
export function buildPagerDutyEvent(
  n: Notification,
  routingKey: string,
  opts: PagerDutyPayloadOptions,
): PagerDutyEvent | undefined {
  if (n.action !== 'trigger' && n.action !== 'acknowledge' && n.action !== 'resolve') return undefined;
  const d = n.details;
  // The six on-call answers first (PagerDuty shows custom details in insertion order).
  const answers = onCallAnswers(n);
  const custom: Record<string, unknown> = Object.fromEntries(
    (Object.keys(ANSWER_LABELS) as (keyof OnCallAnswers)[]).map((k) => [ANSWER_LABELS[k].replace(/ /g, '_'), answers[k]]),
  );
  Object.assign(custom, {
    check: n.check,
    reason: d.reason,
    state: d.state,
    labels: n.labels,
  });
  if (n.incidentId) custom.incident_id = n.incidentId;
  if (d.lastEventAt !== undefined) custom.last_event_at = new Date(d.lastEventAt).toISOString();
  if (d.silenceMs !== undefined) custom.silent_for_seconds = Math.round(d.silenceMs / 1000);
  if (d.normal) custom.normal = d.normal;
  if (d.probe) custom.probe = d.probe;
  if (d.runbookUrl) custom.runbook_url = d.runbookUrl;
  if (d.dashboardUrl) custom.dashboard_url = d.dashboardUrl;
  if (d.ackedBy) custom.acknowledged_by = d.ackedBy;
  if (d.escalated) custom.escalated = true;
  if (d.extra) Object.assign(custom, { extra: d.extra });

  const links: { href: string; text: string }[] = [];
  if (d.runbookUrl) links.push({ href: d.runbookUrl, text: 'Runbook' });
  const dash = incidentDashboardUrl(n);
  if (dash) links.push({ href: dash, text: "Dashboard (the incident's time range)" });

  const ev: PagerDutyEvent = {
    routing_key: routingKey,
    event_action: n.action,
    dedup_key: truncate(n.dedupKey, PD_DEDUP_KEY_MAX),
  };
  if (n.action === 'trigger') {
    ev.payload = {
      summary: truncate(`${n.check}: ${n.summary}`, PD_SUMMARY_MAX),
      source: opts.source,
      severity: n.severity,
      timestamp: new Date(n.createdAt).toISOString(),
      custom_details: custom,
    };
    if (opts.component) ev.payload.component = opts.component;
    ev.payload.group = opts.group ?? n.labels.team ?? n.labels.group ?? undefined;
    if (ev.payload.group === undefined) delete ev.payload.group;
    ev.payload.class = opts.class ?? 'deadman';
    if (links.length) ev.links = links;
    if (opts.client) ev.client = opts.client;
    if (opts.clientUrl) ev.client_url = opts.clientUrl;
  }
  return ev;
}
