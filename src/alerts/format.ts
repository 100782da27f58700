/** Human-readable text shared by the chat-style notifiers (Slack, SNS). Pure. */
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

/** The facts on-call needs, one per line, each `label: value`. */
export function detailLines(n: Notification): string[] {
  const d = n.details;
  const lines: string[] = [`reason: ${d.reason}`, `state: ${d.state}`];
  if (d.lastEventAt !== undefined) lines.push(`last event: ${new Date(d.lastEventAt).toISOString()}`);
  if (d.silenceMs !== undefined) lines.push(`silent for: ${formatDuration(d.silenceMs)}${d.normal ? ` (normal: ${d.normal})` : ''}`);
  else if (d.normal) lines.push(`normal: ${d.normal}`);
  if (d.probe) {
    const p = d.probe;
    lines.push(
      `probe ${p.id}: ${p.result}${p.reference ? ` (ref ${p.reference})` : ''}${p.latencyMs !== undefined ? ` in ${p.latencyMs} ms` : ''}`,
    );
  }
  if (d.ackedBy) lines.push(`acknowledged by: ${d.ackedBy}`);
  if (d.escalated) lines.push('escalated: the page could not be delivered in time; sent through the fallback route');
  if (d.runbookUrl) lines.push(`runbook: ${d.runbookUrl}`);
  if (d.dashboardUrl) lines.push(`dashboard: ${d.dashboardUrl}`);
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
