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

export type { Band, CheckHistory, RateSeries } from './history.ts';
import type { CheckHistory } from './history.ts';

/**
 * Which replica leads (PostgreSQL replicas; absent with one SQLite process). The ids are the lease
 * holders' (host:pid:random), the pod names a team already sees in its cluster.
 */
export interface BoardReplica {
  /** The replica this screen is connected to. */
  self: string;
  role: 'leader' | 'follower';
  /** The holder of the leader lease as this replica last saw it; null when none holds it (a takeover in progress, the database unreachable). */
  leader: string | null;
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
  /** The last 6 hours per check (state bands, event rate against the learned normal), by name. */
  history?: Record<string, CheckHistory>;
  /** Which replica leads (replicas on PostgreSQL only). */
  replica?: BoardReplica;
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

/**
 * Text fit for a screen anyone may read (`board.public`): no probe ids, no charge references, no
 * amounts. Incident summaries are written for on-call ("probe pr_… lost: charge accepted (ref
 * sbx_ch_2), …"); the board keeps what happened and drops the identifiers.
 */
export function boardSafeText(s: string): string {
  return (
    s
      // "(ref ch_123)", "acquirer reference ch_123", "ref: ch_123"
      .replace(/\s*\((?:acquirer )?ref(?:erence)?:? [^)]*\)/gi, '')
      .replace(/\b(?:acquirer )?ref(?:erence)?:? [A-Za-z0-9_.:-]+/gi, 'reference withheld')
      // probe ids: "probe pr_…" -> "probe", any other pr_… -> "a probe"
      .replace(/\bprobe (?:pr_|probe_)[A-Za-z0-9_-]+/gi, 'probe')
      .replace(/\b(?:pr|probe)_[A-Za-z0-9-]{4,}[A-Za-z0-9_-]*/g, 'a probe')
      // charge / payment ids of common acquirers (Stripe ch_/pi_/py_, the sandbox's sbx_ch_)
      .replace(/\b(?:sbx_)?(?:ch|pi|py|re|txn|auth)_[A-Za-z0-9]{1,}\b/g, '<charge>')
      // amounts: "100 gbp", "GBP 1.00", "£1.00", "$5", "amount 100", "amount: 100"
      .replace(/\b\d+(?:[.,]\d+)?\s?(?:gbp|usd|eur|jpy|chf|aud|cad|sek|nok|dkk|pln)\b/gi, 'an amount')
      .replace(/\b(?:gbp|usd|eur|jpy|chf|aud|cad|sek|nok|dkk|pln)\s?\d+(?:[.,]\d+)?\b/gi, 'an amount')
      .replace(/[£$€¥]\s?\d+(?:[.,]\d+)?/g, 'an amount')
      .replace(/\bamount:?\s*\d+(?:[.,]\d+)?/gi, 'an amount')
  );
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
      summary: typeof i.summary === 'string' ? boardSafeText(i.summary).slice(0, 500) : '',
    }))
    .sort((a, b) => a.openedAt - b.openedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * One server-sent event. `data` is JSON on a single line (JSON.stringify never emits a raw newline),
 * so no field can break the framing; the event name is one of ours, never user input.
 */
export function sseEvent(event: 'snapshot' | 'check' | 'incidents' | 'time' | 'history' | 'replica', data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** A comment line: ignored by EventSource, but traffic that keeps proxies from closing the stream. */
export const sseComment = (text: string): string => `: ${text.replace(/[\r\n]+/g, ' ')}\n\n`;
