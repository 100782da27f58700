/**
 * Incident grouping: which checks share one incident, and what its page says. Pure.
 *
 * When an acquirer fails, every card check goes down in the same second. On-call needs ONE page
 * ("card-auth: 37 checks down (visa, mastercard × 5 regions)"), not 37, and PagerDuty takes about
 * 120 events a minute per routing key. So checks of one group (by default: one route) that go down
 * within `window` of the group's latest member, while its incident is open, join that incident:
 * - the first member pages at once (no Alertmanager-style group_wait);
 * - later members are sent as updates of the same incident — a repeated PagerDuty `trigger` with the
 *   same `dedup_key` (a new log entry on the open alert, with the member list in `custom_details`),
 *   an edit of the Slack message — and updates are coalesced: the first one once the burst has
 *   settled (no member for `settle`), no sooner than `firstUpdateAfter` after the trigger and no
 *   later than `firstUpdateBy` (1 s); three more quick ones likewise, each no later than
 *   `quickUpdateBy` (1 s) after the previous message — except the fifth, the last the first minute
 *   allows, which waits for the storm to settle (up to the minute's end), so every member of a
 *   storm, however long it takes to work through, is in the page within about 1 s of its flip or
 *   within `settle` of the storm's end; then at most one every `updateEvery` (30 s), and never a
 *   sixth message in the incident's first minute. The worst first minute is 5 PagerDuty requests
 *   (0, 1, 2, 3 s, and once settled; docs/alerts.md has the history); a storm of 5,000 checks in one second is 2;
 * - a member that recovers is shown as recovered; the incident resolves when its last member does.
 */
import type { AlertRoutes } from './config.ts';
import { matches } from './silences.ts';
import type { SilenceMatchers } from './types.ts';

export interface GroupPolicy {
  /** `route`: one group per route; `none`: one incident per check; a label list: per route and those labels' values. */
  by: 'route' | 'none' | string[];
  /** A check joins an open group incident if it goes down within this long of the group's latest member. */
  windowMs: number;
  /** The first update after the trigger: no sooner than this after it… */
  firstUpdateAfterMs: number;
  /** …once no member joined for this long (a burst shares one update)… */
  settleMs: number;
  /** …and no later than this after the trigger. */
  firstUpdateByMs: number;
  /** How many updates follow the settle rule above before updateEvery applies… */
  quickUpdates: number;
  /** …the ones after the first waiting at most this long for the storm to settle. */
  quickUpdateByMs: number;
  /** Later updates: at most one per this long. */
  updateEveryMs: number;
  /** Members listed by name in a page (the rest are counted). */
  maxListed: number;
}

export const DEFAULT_GROUP_POLICY: GroupPolicy = {
  by: 'route',
  windowMs: 30_000,
  firstUpdateAfterMs: 500,
  settleMs: 250,
  firstUpdateByMs: 1_000,
  quickUpdates: 4,
  quickUpdateByMs: 1_000,
  updateEveryMs: 30_000,
  maxListed: 50,
};

export type MemberStatus = 'down' | 'recovered' | 'held';

/** One check in an incident. */
export interface Member {
  check: string;
  labels: Record<string, string>;
  status: MemberStatus;
  /** When it went down (its deadline). */
  downAt: number;
  reason: string;
  recoveredAt?: number;
  /** status `held`: the upstream check whose outage holds this member's page. */
  heldBy?: string;
}

/** What an incident knows about its group (kept on the incident record). */
export interface GroupInfo {
  key: string;
  /** Human name: the route's name, or the grouping labels' values. */
  name: string;
  /** When the latest member went down (the window is measured from here). */
  lastJoinAt: number;
  /** Bumped on every member change; `notifiedVersion` is what the last page/update showed. */
  version: number;
  notifiedVersion: number;
  /** When the last update was queued (undefined before the first). */
  lastUpdateAt?: number;
  /** When a member last changed. */
  lastChangeAt?: number;
  updates: number;
}

/** The route a check belongs to: `default`, or the first matching override (its `name`, else `overrides[i]`). */
export function routeIdOf(routes: AlertRoutes, target: { check: string; labels: Record<string, string> }): string {
  const i = routes.overrides.findIndex((r) => matches(r.match as SilenceMatchers, target));
  if (i < 0) return 'default';
  return (routes.overrides[i] as { name?: string }).name ?? `overrides[${i}]`;
}

/** The group a check's incident belongs to. */
export function groupOf(
  policy: GroupPolicy,
  routes: AlertRoutes,
  target: { check: string; labels: Record<string, string> },
): { key: string; name: string } {
  const route = routeIdOf(routes, target);
  if (policy.by === 'none') return { key: `check:${target.check}`, name: target.check };
  if (policy.by === 'route' || policy.by.length === 0) return { key: `route:${route}`, name: route };
  const values = policy.by.map((l) => target.labels[l] ?? '');
  return {
    key: `route:${route}|${policy.by.map((l, i) => `${l}=${values[i]}`).join(',')}`,
    name: values.filter(Boolean).join('/') || route,
  };
}

/** May a check that went down at `at` join this open group incident? */
export function canJoin(policy: GroupPolicy, g: GroupInfo, at: number): boolean {
  return policy.by !== 'none' && at - g.lastJoinAt <= policy.windowMs;
}

/** Messages (trigger + updates) an incident may send in its first minute. */
export const FIRST_MINUTE_MESSAGES = 5;

/** When the next coalesced update is due, or undefined when the page already shows every member. */
export function updateDueAt(policy: GroupPolicy, g: GroupInfo, releasedAt: number | undefined): number | undefined {
  if (releasedAt === undefined || g.version === g.notifiedVersion) return undefined;
  // PagerDuty takes about 120 events a minute per routing key, shared by every incident: an
  // incident sends at most FIRST_MINUTE_MESSAGES (its trigger and four updates) in its first minute.
  const floor = g.updates + 1 >= FIRST_MINUTE_MESSAGES ? releasedAt + 60_000 : -Infinity;
  if (g.updates < policy.quickUpdates) {
    // A storm still being worked through: follow it closely at first (each quick update once the
    // burst settles, between firstUpdateAfter and firstUpdateBy after the previous message).
    const base = g.lastUpdateAt ?? releasedAt;
    const settled = (g.lastChangeAt ?? base) + policy.settleMs;
    // The first waits at most firstUpdateBy, the later quick ones at most quickUpdateBy — but the last
    // message the first minute allows waits for the storm to settle, up to the minute's end (sent on
    // the clock, it would leave a storm that outlasts it unlisted for a minute).
    const by = g.updates + 2 === FIRST_MINUTE_MESSAGES ? releasedAt + 60_000 - base : g.updates === 0 ? policy.firstUpdateByMs : policy.quickUpdateByMs;
    return Math.max(floor, Math.min(Math.max(base + policy.firstUpdateAfterMs, settled), base + Math.max(by, policy.firstUpdateAfterMs)));
  }
  return Math.max(floor, (g.lastUpdateAt ?? releasedAt) + policy.updateEveryMs);
}

export interface MemberCounts {
  down: number;
  recovered: number;
  held: number;
}

/** Counted in one pass (a 100,000-member group is summarised, never re-listed per member). */
export function countMembers(members: Iterable<Member>): MemberCounts {
  const c: MemberCounts = { down: 0, recovered: 0, held: 0 };
  for (const m of members) c[m.status]++;
  return c;
}

const plural = (n: number, word: string) => `${n.toLocaleString('en')} ${word}${n === 1 ? '' : 's'}`;

/**
 * "37 checks down (visa, mastercard × 5 regions)": for each label every down member carries, up to
 * three values are named, more are counted. One pass over the members (a group may have 100,000).
 */
export function describeDown(members: Iterable<Member>): string {
  let n = 0;
  let keys: string[] = [];
  let values: Set<string>[] = [];
  for (const m of members) {
    if (m.status !== 'down') continue;
    if (n++ === 0) {
      keys = Object.keys(m.labels);
      values = keys.map(() => new Set<string>());
    }
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (!(k in m.labels)) {
        // Not carried by every down member: says nothing about the group.
        keys.splice(i, 1);
        values.splice(i, 1);
        i--;
      } else values[i]!.add(m.labels[k]!);
    }
  }
  if (!n) return 'no checks down';
  const parts: string[] = [];
  keys.forEach((k, i) => {
    const vs = [...values[i]!];
    if (vs.length === 1 && n > 1) return; // the same for all: says nothing
    parts.push(vs.length <= 3 ? vs.join(', ') : plural(vs.length, k));
  });
  return `${plural(n, 'check')} down${parts.length ? ` (${parts.join(' × ')})` : ''}`;
}

/** The incident summary for a group of more than one member. */
export function groupSummary(members: Iterable<Member>, counts?: MemberCounts): string {
  const c = counts ?? countMembers(members);
  const tail = [c.recovered ? `${c.recovered.toLocaleString('en')} recovered` : '', c.held ? `${c.held.toLocaleString('en')} held (upstream down)` : '']
    .filter(Boolean)
    .join(', ');
  return `${c.down ? describeDown(members) : 'no checks down'}${tail ? `; ${tail}` : ''}`;
}

const ORDER: Record<MemberStatus, number> = { down: 0, held: 1, recovered: 2 };
/** Down first, then held, then recovered; each in the order they went down (then by name). */
const byListing = (a: Member, b: Member) => ORDER[a.status] - ORDER[b.status] || a.downAt - b.downAt || (a.check < b.check ? -1 : a.check > b.check ? 1 : 0);

/**
 * The member list for a page's details: counts, and the first members by name (down first, in the
 * order they went down). The first `maxListed` are selected in one pass, not by sorting them all.
 */
export function memberDetails(members: ReadonlyArray<Member> | ReadonlyMap<string, Member>, maxListed: number, counts?: MemberCounts): Record<string, unknown> {
  const all: Iterable<Member> = 'values' in members && !Array.isArray(members) ? (members as ReadonlyMap<string, Member>).values() : (members as ReadonlyArray<Member>);
  const total = 'size' in members ? (members as ReadonlyMap<string, Member>).size : (members as ReadonlyArray<Member>).length;
  const c: MemberCounts = counts ? { ...counts } : { down: 0, recovered: 0, held: 0 };
  const top: Member[] = [];
  for (const m of all) {
    if (!counts) c[m.status]++;
    if (maxListed <= 0 || (top.length === maxListed && byListing(m, top[top.length - 1]!) >= 0)) continue;
    let lo = 0;
    let hi = top.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (byListing(top[mid]!, m) <= 0) lo = mid + 1;
      else hi = mid;
    }
    top.splice(lo, 0, m);
    if (top.length > maxListed) top.pop();
  }
  const listed = top.map((m) => ({
    check: m.check,
    status: m.status,
    downAt: new Date(m.downAt).toISOString(),
    ...(m.recoveredAt !== undefined ? { recoveredAt: new Date(m.recoveredAt).toISOString() } : {}),
    ...(m.heldBy ? { heldBy: m.heldBy } : {}),
  }));
  return {
    total,
    downTotal: c.down,
    recoveredTotal: c.recovered,
    heldTotal: c.held,
    members: listed,
    ...(total > listed.length ? { unlisted: total - listed.length } : {}),
  };
}
