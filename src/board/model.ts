/**
 * What the status board shows, as plain data, and the server-sent-event frames that carry it.
 * Pure: no clock, no I/O. The board may be opened without a token (`board.public`), so it carries
 * only what a screen needs: no match rules, no labels, no probe ids or references.
 */
import type { CheckSnapshot } from '../checks/runtime.ts';
import type { CheckStatus } from '../checks/types.ts';

export interface BoardCheck {
  name: string;
  status: CheckStatus;
  /** When the current status was entered (epoch ms, server clock). */
  since: number;
  /** Arrival of the newest matching event (epoch ms, server clock); null before the first. */
  lastEventAt: number | null;
  /** Pipeline lag of the newest event (arrival - its own time). */
  lagMs: number | null;
  quietAfterMs: number;
  pageAfterMs: number;
  /** Held down by flap control until events flow steadily again. */
  held: boolean;
  /** A synthetic transaction is in flight, and until when the board waits for it. */
  probe: { reason: string; deadline: number; accepted: boolean } | null;
}

export interface BoardIncident {
  id: string;
  check: string;
  openedAt: number;
  acknowledgedAt: number | null;
  summary: string;
}

export interface BoardSnapshot {
  /** The server's clock when the snapshot was taken: the page ticks from here. */
  serverTime: number;
  /** How often the stream sends a heartbeat; the page calls itself stale after a few missed. */
  heartbeatMs: number;
  checks: BoardCheck[];
  incidents: BoardIncident[];
  /** Set when the incident list could not be read; the checks are still current. */
  incidentsError?: string;
}

/** What the incidents callback returns (a subset of the alert manager's Incident, or any list). */
export interface IncidentLike {
  id: string;
  check: string;
  openedAt: number;
  acknowledgedAt?: number | null;
  /** The alert manager's name for acknowledgedAt; either is read. */
  ackedAt?: number | null;
  /** When present, 'resolved' incidents are left off. */
  status?: string;
  summary?: string;
}

export function boardCheck(s: CheckSnapshot): BoardCheck {
  return {
    name: s.name,
    status: s.status,
    since: s.since,
    lastEventAt: s.lastEventAt,
    lagMs: s.lagMs,
    quietAfterMs: s.limits.quietAfterMs,
    pageAfterMs: s.limits.pageAfterMs,
    held: s.held,
    probe: s.probe ? { reason: s.probe.reason, deadline: s.probe.deadline, accepted: s.probe.accepted } : null,
  };
}

/** Oldest first, so an incident keeps its place on the screen while others open. */
export function boardIncidents(list: readonly IncidentLike[]): BoardIncident[] {
  return list
    .filter((i) => i.status !== 'resolved')
    .map((i) => ({
      id: String(i.id),
      check: String(i.check),
      openedAt: Number(i.openedAt),
      acknowledgedAt: typeof i.acknowledgedAt === 'number' ? i.acknowledgedAt : typeof i.ackedAt === 'number' ? i.ackedAt : null,
      summary: typeof i.summary === 'string' ? i.summary.slice(0, 500) : '',
    }))
    .sort((a, b) => a.openedAt - b.openedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * One server-sent event. `data` is JSON on a single line (JSON.stringify never emits a raw newline),
 * so no field can break the framing; the event name is one of ours, never user input.
 */
export function sseEvent(event: 'snapshot' | 'check' | 'incidents' | 'time', data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** A comment line: ignored by EventSource, but traffic that keeps proxies from closing the stream. */
export const sseComment = (text: string): string => `: ${text.replace(/[\r\n]+/g, ' ')}\n\n`;
