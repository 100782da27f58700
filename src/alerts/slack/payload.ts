/** Slack message bodies (chat.postMessage / chat.update / incoming webhooks). Pure. */
import type { Notification } from '../types.ts';
import { detailLines, headline, truncate } from '../format.ts';

/** Slack truncates `text` above 40,000 characters; a section block's text is limited to 3,000. */
const SECTION_MAX = 3000;

const EMOJI: Record<Notification['action'], string> = {
  trigger: ':red_circle:',
  acknowledge: ':large_yellow_circle:',
  resolve: ':large_green_circle:',
  reminder: ':alarm_clock:',
  warning: ':warning:',
};

export interface SlackMessage {
  text: string;
  blocks: Record<string, unknown>[];
}

/** The incident's main message as it should look now (posted on trigger, edited on ack/resolve). */
export function buildSlackMessage(n: Notification, opts: { mention?: string } = {}): SlackMessage {
  const head = `${EMOJI[n.action]} *${escape(headline(n))}*`;
  const mention = opts.mention && (n.action === 'trigger' || n.action === 'reminder') ? `${opts.mention} ` : '';
  const body = detailLines(n).map((l) => `• ${escape(l)}`).join('\n');
  const text = `${mention}${headline(n)}`;
  const blocks: Record<string, unknown>[] = [
    { type: 'section', text: { type: 'mrkdwn', text: truncate(`${mention}${head}\n${body}`, SECTION_MAX) } },
  ];
  const ctx: string[] = [];
  if (n.incidentId) ctx.push(`incident ${n.incidentId}`);
  ctx.push(`dedup ${n.dedupKey}`);
  ctx.push(new Date(n.createdAt).toISOString());
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: escape(ctx.join(' · ')) }] });
  return { text: truncate(text, 3000), blocks };
}

/** A short thread reply describing one update to the incident. */
export function buildThreadReply(n: Notification): string {
  switch (n.action) {
    case 'acknowledge':
      return `Acknowledged${n.details.ackedBy ? ` by ${n.details.ackedBy}` : ''}.`;
    case 'resolve':
      return `Resolved: ${n.details.reason}`;
    case 'reminder':
      return `Still down and not acknowledged: ${n.summary}`;
    case 'trigger':
      return n.details.escalated
        ? 'Escalated: the page could not be delivered in time and was sent through the fallback route.'
        : `Triggered again: ${n.summary}`;
    case 'warning':
      return n.summary;
  }
}

/** Escape the three characters Slack's mrkdwn treats as control characters. */
export function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
