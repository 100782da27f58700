/**
 * Human-readable text shared by every notifier (Slack, SNS, PagerDuty's custom details). Pure.
 *
 * Every page and message answers the six questions on-call asks, each on its own labelled line
 * (`onCallAnswers`): what broke; since when; how abnormal against this hour's normal; what
 * quietwatch tried (the probe, its reference, its result and when); what to do (the runbook);
 * where to look (the dashboard, opened on the incident's time range).
 */
import { formatDuration } from '../lib/duration.ts';
import type { Notification } from './types.ts';

export function headline(n: Notification): string {
  const tag = (() => {
    switch (n.action) {
      case 'trigger':
        return n.details.escalated ? 'DOWN (escalated)' : 'DOWN';
      case 'acknowledge':
        return 'ACKNOWLEDGED';
      case 'resolve':
        return 'RESOLVED';
      case 'reminder':
        return 'STILL DOWN';
      case 'warning':
        return `WARNING${n.details.warningKind ? ` (${n.details.warningKind})` : ''}`;
    }
  })();
  return `[${tag}] ${n.check}: ${n.summary}`;
}

export interface OnCallAnswers {
  whatBroke: string;
  since: string;
  howAbnormal: string;
  tried: string;
  whatToDo: string;
  whereToLook: string;
}

/** The labels the answers carry in text, in order (the checklist test reads them back). */
export const ANSWER_LABELS: Readonly<Record<keyof OnCallAnswers, string>> = {
  whatBroke: 'what broke',
  since: 'since',
  howAbnormal: 'how abnormal',
  tried: 'quietwatch tried',
  whatToDo: 'what to do',
  whereToLook: 'where to look',
};

/** How much of the time before the silence the dashboard link shows (the normal to compare with). */
export const DASHBOARD_LEAD_MS = 30 * 60_000;
/** After a resolve, how much after the recovery the link shows. */
export const DASHBOARD_TAIL_MS = 10 * 60_000;

const iso = (t: number): string => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');

interface LimitsLike {
  quietAfterMs?: number;
  pageAfterMs?: number;
  expectedGapMs?: number;
  expectedPerMinute?: number;
  source?: string;
}

function limitsOf(n: Notification): LimitsLike | undefined {
  const l = n.details.extra?.limits;
  return l && typeof l === 'object' ? (l as LimitsLike) : undefined;
}

function rateDropOf(n: Notification): string | undefined {
  const r = n.details.extra?.rateDrop;
  return typeof r === 'string' && r ? r : undefined;
}

/** A resolve's incident times (set by the alert manager), when present. */
function resolvedSpan(n: Notification): { downSince: number; silentSince?: number; resolvedAt: number } | undefined {
  const x = n.details.extra;
  if (n.action !== 'resolve' || !x || typeof x.downSince !== 'number' || typeof x.resolvedAt !== 'number') return undefined;
  return { downSince: x.downSince, resolvedAt: x.resolvedAt, ...(typeof x.silentSince === 'number' ? { silentSince: x.silentSince } : {}) };
}

/** When the silence (or the trouble) began: the last event, else the start of the silence. */
export function troubleSince(n: Notification): number | undefined {
  const span = resolvedSpan(n);
  if (span) return span.silentSince ?? span.downSince;
  const d = n.details;
  if (typeof d.lastEventAt === 'number') return d.lastEventAt;
  if (typeof d.silenceMs === 'number') return n.createdAt - d.silenceMs;
  return undefined;
}

/**
 * The dashboard URL opened on a time range (Grafana's `from` / `to`, epoch ms or `now`); other
 * query parameters (`var-check=…`) are kept. A URL that does not parse is returned as it is.
 */
export function dashboardLink(url: string, from: number, to: number | 'now'): string {
  try {
    const u = new URL(url);
    u.searchParams.set('from', String(Math.floor(from)));
    u.searchParams.set('to', String(to === 'now' ? 'now' : Math.ceil(to)));
    return u.toString();
  } catch {
    return url;
  }
}

/** The incident's time range for the dashboard link: from well before the silence to now (or past the recovery). */
export function incidentRange(n: Notification): { from: number; to: number | 'now' } {
  const since = troubleSince(n) ?? n.createdAt;
  const end = resolvedSpan(n)?.resolvedAt ?? n.createdAt;
  return { from: since - DASHBOARD_LEAD_MS, to: n.action === 'resolve' ? end + DASHBOARD_TAIL_MS : 'now' };
}

/** The dashboard link of this notification with the incident's range, when a dashboard is configured. */
export function incidentDashboardUrl(n: Notification): string | undefined {
  const url = n.details.dashboardUrl;
  if (!url) return undefined;
  const r = incidentRange(n);
  return dashboardLink(url, r.from, r.to);
}

const PROBE_RESULT: Record<string, string> = {
  pending: 'fired, no answer from the acquirer yet',
  accepted: 'charge accepted by the acquirer, waiting for its transaction to come out',
  proven: 'proven: its transaction came out of the pipeline',
  lost: 'LOST: the acquirer accepted the charge, its transaction never came out of the pipeline',
  refused: 'REFUSED by the acquirer (the probe card or the acquirer may be broken): it could not tell quiet from broken',
  error: 'could not reach the acquirer: it could not tell quiet from broken',
  budget: 'stopped by the probe budget (no charge made)',
  dropped: 'abandoned',
};

function ago(ms: number): string {
  return ms >= 0 ? `${formatDuration(ms)} before this message` : `${formatDuration(-ms)} after this message`;
}

function triedLine(n: Notification): string {
  const p = n.details.probe;
  if (!p && n.action === 'resolve') return 'nothing more: traffic (or a proven probe) settled it';
  if (!p) {
    if (n.action === 'warning' && n.details.warningKind === 'quiet') return 'nothing yet: this check has no probe, so nothing can tell quiet from broken before the page limit';
    return 'no probe during this silence (none configured for this check, or none allowed by its budget): the silence limit decided';
  }
  const p2 = p;
  const parts: string[] = [`probe ${p.id}${p2.reason ? ` (${p2.reason})` : ''}`];
  if (typeof p2.firedAt === 'number') parts.push(`fired ${iso(p2.firedAt)}`);
  let result = PROBE_RESULT[p.result] ?? p.result;
  if (p.result === 'proven' && typeof p.latencyMs === 'number') result += ` in ${formatDuration(p.latencyMs)}`;
  parts.push(result);
  if (p.reference) parts.push(`acquirer reference ${p.reference}`);
  if (p2.message) parts.push(p2.message);
  const when = typeof p2.settledAt === 'number' ? p2.settledAt : p2.firedAt;
  if (typeof when === 'number') parts.push(`${typeof p2.settledAt === 'number' ? 'settled' : 'fired'} ${ago(n.createdAt - when)}`);
  return parts.join('; ');
}

function abnormalLine(n: Notification): string {
  const d = n.details;
  if (n.action === 'resolve') return `back to normal: ${d.reason}`;
  const rate = rateDropOf(n);
  const lim = limitsOf(n);
  const bits: string[] = [];
  if (rate) bits.push(`event rate far below normal: ${rate}`);
  if (typeof d.silenceMs === 'number') {
    if (lim?.expectedGapMs && lim.expectedGapMs > 0) {
      const x = d.silenceMs / lim.expectedGapMs;
      bits.push(`silent ${formatDuration(d.silenceMs)} where 1 event every ${formatDuration(lim.expectedGapMs)} is normal at this hour (${x >= 10 ? Math.round(x) : x.toFixed(1)}x the normal gap${lim.source === 'learned' ? ', learned' : ''})`);
    } else if (lim?.pageAfterMs) {
      bits.push(
        `silent ${formatDuration(d.silenceMs)}; no learned normal for this hour (${lim.source === 'bounds' ? 'still learning: its bounds apply' : 'fixed limits'}): quiet after ${formatDuration(lim.quietAfterMs ?? 0)}, page after ${formatDuration(lim.pageAfterMs)}`,
      );
    } else bits.push(`silent ${formatDuration(d.silenceMs)}${d.normal ? `; ${d.normal}` : ''}`);
  } else if (d.normal) bits.push(d.normal);
  return bits.length ? bits.join('; ') : 'not measured for this message';
}

function whatBrokeLine(n: Notification): string {
  const d = n.details;
  const probeLost = d.probe?.result === 'lost';
  switch (n.action) {
    case 'trigger':
    case 'reminder': {
      const cause = probeLost
        ? 'the pipeline swallowed a test transaction (charge accepted, nothing came out)'
        : rateDropOf(n)
          ? 'events fell far below normal (a partial outage)'
          : 'no events are coming out of the pipeline';
      return `${n.check} is DOWN: ${cause}${n.action === 'reminder' ? ' (still, and not acknowledged)' : ''}`;
    }
    case 'acknowledge':
      return `${n.check} is down; acknowledged${d.ackedBy ? ` by ${d.ackedBy}` : ''}`;
    case 'resolve':
      return `${n.check} recovered: ${d.reason}`;
    case 'warning':
      return `${n.check} may be in trouble: ${n.summary} (a warning: nobody is paged for this by itself)`;
  }
}

function sinceLine(n: Notification): string {
  const span = resolvedSpan(n);
  if (span) {
    return `down from ${iso(span.downSince)} to ${iso(span.resolvedAt)} (${formatDuration(Math.max(0, span.resolvedAt - span.downSince))})${span.silentSince !== undefined ? `; the last event before it ${iso(span.silentSince)}` : ''}`;
  }
  const since = troubleSince(n);
  if (since === undefined) return `${iso(n.createdAt)} (this message)`;
  const from = typeof n.details.lastEventAt === 'number' ? 'the last event' : 'the silence began (no event seen since quietwatch started watching)';
  return `${iso(since)}, ${from}: ${formatDuration(Math.max(0, n.createdAt - since))} before this message`;
}

/** The six answers for a notification. */
export function onCallAnswers(n: Notification): OnCallAnswers {
  const d = n.details;
  const dash = incidentDashboardUrl(n);
  return {
    whatBroke: whatBrokeLine(n),
    since: sinceLine(n),
    howAbnormal: abnormalLine(n),
    tried: triedLine(n),
    whatToDo: d.runbookUrl ? `follow the runbook: ${d.runbookUrl}` : `no runbook configured (set checks[].runbook for ${n.check})`,
    whereToLook: dash ? `dashboard for the incident's time range: ${dash}` : `no dashboard configured (set checks[].dashboard for ${n.check}); quietwatch status ${n.check}`,
  };
}

/** The facts on-call needs, one per line, each `label: value`: the six answers first, then the details. */
export function detailLines(n: Notification): string[] {
  const d = n.details;
  const a = onCallAnswers(n);
  const lines: string[] = (Object.keys(ANSWER_LABELS) as (keyof OnCallAnswers)[]).map((k) => `${ANSWER_LABELS[k]}: ${a[k]}`);
  lines.push(`reason: ${d.reason}`, `state: ${d.state}`);
  if (d.lastEventAt !== undefined) lines.push(`last event: ${new Date(d.lastEventAt).toISOString()}`);
  if (d.silenceMs !== undefined) lines.push(`silent for: ${formatDuration(d.silenceMs)}${d.normal ? ` (normal: ${d.normal})` : ''}`);
  else if (d.normal) lines.push(`normal: ${d.normal}`);
  if (d.ackedBy) lines.push(`acknowledged by: ${d.ackedBy}`);
  if (d.escalated) lines.push('escalated: the page could not be delivered in time; sent through the fallback route');
  const labels = Object.entries(n.labels);
  if (labels.length) lines.push(`labels: ${labels.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  return lines;
}

export function plainText(n: Notification): string {
  return [headline(n), ...detailLines(n)].join('\n');
}

/** Truncate to `max` characters, ending with an ellipsis when cut. */
export function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, Math.max(0, max - 1))}…`;
}
