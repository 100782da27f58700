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
 * Text fit for a screen anyone may read (`board.public`): no probe ids, no charge or acquirer
 * references, no card numbers, no amounts. Incident summaries are written for on-call ("probe pr_…
 * lost: charge accepted (ref sbx_ch_2), 100 gbp, …"); the board keeps what happened and drops the
 * identifiers.
 *
 * An allow-list, not a list of known id shapes. After amounts (a number with a currency symbol, or
 * next to any 3-letter code, either order) and "ref …" / "order #…" phrases are taken out, a word
 * stays only if it looks like prose: letters (`down`, `card-auth-visa`), a plain count (`3`,
 * `1,234`), a duration (`45s`, `1h30m`, `0.8`), a time of day, or a short token (`5xx`, `v2`).
 * Anything else — digits inside a longer token, `_`, dots or colons inside a token, 7 or more
 * digits, card-like digit groups, URLs, e-mail addresses — becomes `[withheld]`. The `known` words
 * (the incident's own check name, shown on its tile anyway) are kept as they are.
 */
export function boardSafeText(s: string, known: readonly string[] = []): string {
  // Control characters and the private-use marks used below are never shown.
  let t = s.replace(/[\u0000-\u001f\u007f\ue000-\uf8ff]+/g, ' ');
  const kept: string[] = [];
  for (const k of [...new Set(known)].filter((k) => k.trim().length >= 3).sort((a, b) => b.length - a.length)) {
    t = t.replace(new RegExp(`(?<![\\p{L}\\p{N}_-])${escapeRe(k)}(?![\\p{L}\\p{N}_-])`, 'gu'), () => `\ue000${String.fromCharCode(0xe100 + kept.push(k) - 1)}\ue000`);
  }
  t = t
    // URLs and e-mail addresses
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s)]+/gi, WITHHELD)
    .replace(/[^\s@()<>,;:]+@[^\s@()<>,;:]+/g, WITHHELD)
    // "(ref ch_123)", "(acquirer reference: X)", "(id 42)": the whole parenthesis goes
    .replace(/\s*\((?:acquirer |charge |payment |probe )?(?:ref(?:erence)?|id|txn|transaction)\b[^)]*\)/gi, '')
    // probe ids: "probe pr_…" -> "probe", any other pr_… -> "a probe"
    .replace(/\bprobe[\s:]+(?:pr|probe)_[\p{L}\p{N}_-]+/giu, 'probe')
    .replace(/\b(?:pr|probe)_[\p{L}\p{N}_-]+/giu, 'a probe')
    // card-like: 12 to 19 digits, maybe grouped or masked ("4242 4242 4242 4242", "424242******4242")
    .replace(/(?<![\p{L}\p{N}_]|[.-](?=\d))\d(?:[ -]?[\d*xX•]){11,18}(?![\p{L}\p{N}_]|[.-][\p{L}\p{N}])/gu, WITHHELD)
    // "acquirer reference ch_123", "ref: X", "reference=X", "order #123", "account 12345678"
    .replace(
      /\b(?:acquirer |charge |payment )?(ref(?:erence)?|id|txn|transaction|order|account|acct|iban|card|pan|token|key|customer|merchant)(?:\s*[:=#]\s*|\s+(?=[^\s,;()]*\d))(?!withheld\b|an amount\b)[^\s,;()]+/giu,
      (_m, word: string) => `${/^ref/i.test(word) ? 'reference' : word} withheld`,
    )
    // long digit runs: account numbers, acquirer reference numbers
    .replace(/[^\s,;()]*\d{7,}[^\s,;()]*/gu, WITHHELD)
    // amounts: "€5", "5 €", "100 inr", "INR 1,000.00", "1.5k usd", "usd100", "amount: 100"
    .replace(new RegExp(`(?:${NUMBER})\\s?\\p{Sc}|\\p{Sc}\\s?(?:${NUMBER})`, 'gu'), AMOUNT)
    .replace(new RegExp(`(?<![\\p{L}\\p{N}_])(?:(?:${NUMBER})\\s?(\\p{L}{3})|(\\p{L}{3})(\\s?)(?:${NUMBER}))(?![\\p{L}\\p{N}_])`, 'gu'), (m, after?: string, before?: string, gap?: string) =>
      // "usd100" but not "ipv6", "sha256": written together, the code must be a real one
      after !== undefined ? (isCurrencyCode(after) ? AMOUNT : m) : (gap ? isCurrencyCode(before!) : ISO4217.has(before!.toUpperCase())) ? AMOUNT : m,
    )
    .replace(/\bamount\s*[:=]?\s*\d[\d.,]*/gi, AMOUNT)
    // and every other word by the allow-list
    .replace(/[\p{L}\p{N}_*•]+(?:[-.:/+=#~'’][\p{L}\p{N}_*•]+)*/gu, (w) => (safeWord(w) ? w : WITHHELD));
  return t
    .replace(/\ue000(.)\ue000/g, (_m, c: string) => kept[c.charCodeAt(0) - 0xe100] ?? '')
    .replace(/\[withheld\](?:[\s,;:/-]*\[withheld\])+/g, WITHHELD)
    .replace(/\s{2,}/g, ' ')
    .trim();
}

const WITHHELD = '[withheld]';
const AMOUNT = 'an amount';
const escapeRe = (s: string) => s.replace(/[[\]\\^$.|?*+(){}]/g, '\\$&');
/** 100, 1,000, 1.000,50, 1 000, 1.5k, 10.00 */
const NUMBER = String.raw`\d{1,3}(?:[,.' ]\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?[kKmM]?`;

/**
 * Three-letter words that follow or precede a number in ordinary prose ("3 for 10 min", "now 5",
 * "api 503"): any other 3-letter word next to a number is taken for a currency code (ISO 4217 has
 * about 180, and new ones come). In capitals they count as codes too: "100 ALL" is Albanian lek,
 * "TRY 5" Turkish lira, "TOP 20" Tongan paʻanga.
 */
const PROSE3 = new Set(
  (
    'ago all and any api are avg but can cpu day did dns due end err few for get got had has hit hrs its job lag log max min ' +
    'new nor not now off old one ops our out per put req row rps run saw sec see set sql tcp the tls too top tps try two ' +
    'udp url utc via was way who why yet yrs'
  ).split(' '),
);
/** ISO 4217 codes in use (and a few crypto tickers): "usd100" is an amount where "ipv6" is not. */
const ISO4217 = new Set(
  (
    'AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD CDF CHE CHF ' +
    'CHW CLF CLP CNH CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD ' +
    'HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD ' +
    'MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON ' +
    'RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX ' +
    'USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ' +
    'ZAR ZMW ZWG ZWL BTC ETH XBT LTC'
  ).split(' '),
);
function isCurrencyCode(w: string): boolean {
  return w === w.toUpperCase() || !PROSE3.has(w.toLowerCase());
}

/** Durations as alert texts write them: 45s, 1h30m, 500ms, 0.8s, 2min. */
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$|^\d+(?:\.\d+)?(?:mins?|secs?|hrs?)$/;

function safeWord(w: string): boolean {
  if (w.startsWith('\ue000')) return true;
  // Words: letters only, maybe hyphenated or with an apostrophe ("card-auth-visa", "don't")...
  if (/^\p{L}+(?:[-'’]\p{L}+)*$/u.test(w)) {
    // ...but not what looks more like a random id than a word: a long mixed-case run, a long run of hex letters.
    return !w.split(/[-'’]/).some((p) => (p.length >= 12 && /\p{Lu}/u.test(p.slice(1)) && /\p{Ll}/u.test(p)) || /^[a-f]{10,}$/i.test(p));
  }
  // Counts: up to 6 digits, thousands-separated ("1,234,567" from toLocaleString), decimals.
  if (/^\d{1,6}(?:\.\d{1,3})?$/.test(w) || /^\d{1,3}(?:,\d{3})+$/.test(w)) return true;
  if (DURATION.test(w)) return true;
  // Times of day and dates: 10:00, 10:00:37, 2026-12-02; ranges and ratios: 2-3, 1/5, 24/7.
  if (/^\d{1,2}:\d{2}(?::\d{2})?$/.test(w) || /^\d{4}-\d{2}-\d{2}$/.test(w) || /^\d{1,4}[-/]\d{1,4}$/.test(w)) return true;
  if (/^(?:e\.g|i\.e|etc)$/i.test(w)) return true;
  // Short tokens (HTTP 5xx, v2, 2fa, ipv6): too short to identify anything.
  return /^[\p{L}\p{N}]{1,5}$/u.test(w);
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
      summary: typeof i.summary === 'string' ? boardSafeText(i.summary, [String(i.check)]).slice(0, 500) : '',
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
