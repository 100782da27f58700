/**
 * Grouping in virtual time: checks of one route that go down together share one incident — one
 * page, then coalesced updates with the same dedup key — and it resolves when the last member does.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { AlertManager } from '../../src/alerts/manager.ts';
import type { AlertRoutes } from '../../src/alerts/config.ts';
import { alertsConfigSchema } from '../../src/alerts/config.ts';
import { describeDown, groupOf, DEFAULT_GROUP_POLICY, type GroupPolicy, type Member } from '../../src/alerts/grouping.ts';
import { memoryStore, RecordingNotifier, VirtualTimers } from './helpers.ts';

const T0 = Date.parse('2026-06-01T10:00:00Z');
const S = 1000;

function setup(p: { group?: Partial<GroupPolicy>; routes?: AlertRoutes } = {}) {
  const clock = new ManualClock(T0);
  const timers = new VirtualTimers(clock);
  const pd = new RecordingNotifier('pd', 'pagerduty', clock);
  const slack = new RecordingNotifier('slack', 'slack', clock);
  const { db, store } = memoryStore();
  const m = new AlertManager({
    store,
    notifiers: { pd, slack },
    routes: p.routes ?? { default: { warning: ['slack'], page: ['pd', 'slack'] }, overrides: [] },
    clock,
    logger: silentLogger(),
    retry: { minDelayMs: 1000, maxDelayMs: 60_000, maxAttempts: 5, deadlineMs: 600_000 },
    group: p.group,
    timers,
    random: () => 0.5,
  });
  return { clock, timers, pd, slack, db, store, m };
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup) await c();
  cleanup = [];
});
async function started(p: Parameters<typeof setup>[0] = {}) {
  const s = setup(p);
  await s.m.start();
  cleanup.push(async () => {
    await s.m.stop();
    s.db.close();
  });
  return s;
}

const labels = (i: number) => ({ scheme: i % 2 ? 'mastercard' : 'visa', region: `r${i % 5}` });
const down = (m: AlertManager, i: number, at: number) => m.checkDown({ check: `card-${i}`, labels: labels(i), at, reason: 'no events for 8s' });
const group = (n: { n: { details: { extra?: Record<string, unknown> } } }) =>
  n.n.details.extra?.group as { downTotal: number; recoveredTotal: number; total: number; members: { check: string; status: string }[] } | undefined;

describe('grouping', () => {
  it('join: checks of one route that go down together share one incident: one page, then one update listing every member', async () => {
    const { m, pd, slack, timers } = await started();
    const first = await down(m, 0, T0);
    for (let i = 1; i < 10; i++) expect((await down(m, i, T0 + 50)).id).toBe(first.id);
    await timers.advance(200);
    expect(pd.sent.map((s) => s.n.action)).toEqual(['trigger']);
    expect(pd.sent[0]!.n.summary).toBe('card-0 is down: no events for 8s'); // at once, no group_wait
    await timers.advance(1 * S);
    expect(pd.sent.map((s) => s.n.action)).toEqual(['trigger', 'trigger']);
    const update = pd.sent[1]!;
    expect(update.n.dedupKey).toBe(first.dedupKey);
    expect(update.n.check).toBe('default');
    expect(update.n.summary).toBe('10 checks down (visa, mastercard × 5 regions)');
    expect(group(update)).toMatchObject({ total: 10, downTotal: 10 });
    expect(group(update)!.members.map((x) => x.check)).toContain('card-9');
    // Slack: the update edits the first message (the notifier gets its receipt).
    expect(slack.sent[1]!.prior).toEqual({ ref: 'slack-1' });
    expect((await m.listIncidents({ open: true })).length).toBe(1);
    expect((await m.listIncidents({ open: true, check: 'card-7' }))[0]!.id).toBe(first.id);
  });

  it('late member: joins a later update within the window; after the window a new incident opens', async () => {
    const { m, pd, timers } = await started({ group: { windowMs: 30 * S } });
    const first = await down(m, 0, T0);
    await down(m, 1, T0);
    await timers.advance(2 * S); // trigger + first (quick) update: 2 members
    expect(pd.sent).toHaveLength(2);
    await timers.advance(4 * S);
    expect((await down(m, 2, T0 + 6 * S)).id).toBe(first.id); // joins
    await timers.advance(1 * S);
    expect(pd.sent).toHaveLength(3); // the second quick update
    expect(group(pd.sent[2]!)!.downTotal).toBe(3);
    await timers.advance(5 * S);
    expect((await down(m, 3, T0 + 12 * S)).id).toBe(first.id);
    await timers.advance(1 * S);
    expect(pd.sent).toHaveLength(4); // the third quick update
    expect(group(pd.sent[3]!)!.downTotal).toBe(4);
    await timers.advance(7 * S);
    expect((await down(m, 4, T0 + 20 * S)).id).toBe(first.id);
    await timers.advance(2 * S);
    expect(pd.sent).toHaveLength(5); // the fourth (last) quick update: the trigger and four updates in the first minute
    expect(group(pd.sent[4]!)!.downTotal).toBe(5);
    expect((await down(m, 6, T0 + 22 * S)).id).toBe(first.id);
    await timers.advance(37 * S); // T0 + 59 s
    expect(pd.sent).toHaveLength(5); // never a sixth message in the first minute
    await timers.advance(2 * S); // T0 + 61 s
    expect(pd.sent).toHaveLength(6);
    expect(group(pd.sent[5]!)!.downTotal).toBe(6);
    await timers.advance(1 * S); // T0 + 62 s
    const late = await down(m, 5, T0 + 62 * S); // more than 30 s after the last member
    expect(late.id).not.toBe(first.id);
    await timers.advance(1 * S);
    expect(pd.sent.at(-1)!.n.dedupKey).toBe(late.dedupKey);
    expect(pd.sent.at(-1)!.n.summary).toBe('card-5 is down: no events for 8s');
  });

  it('a down reported late (restored after a slow restart) is judged at the time it went down', async () => {
    const { m, clock, timers } = await started({ group: { windowMs: 30 * S } });
    const first = await down(m, 0, T0);
    await timers.advance(45 * S);
    // Went down 1 s after the first, but only reported now (45 s later, past the window): same outage.
    expect((await down(m, 1, T0 + 1 * S)).id).toBe(first.id);
    // Went down now, 45 s after the group's last join: a new outage.
    expect((await down(m, 2, clock.now())).id).not.toBe(first.id);
  });

  it("the service's own downtime does not age the window: a check restarted mid-storm joins after a long restart", async () => {
    const s = setup({ group: { windowMs: 30 * S } });
    await s.m.start();
    const first = await down(s.m, 0, T0);
    await s.timers.advance(1 * S);
    await s.m.stop();
    // Down for 2 minutes; the restarted check goes down a pageAfter (8 s) after the start.
    s.clock.set(T0 + 120 * S);
    const m2 = new AlertManager({ store: s.store, notifiers: { pd: s.pd, slack: s.slack }, routes: { default: { warning: ['slack'], page: ['pd', 'slack'] }, overrides: [] }, clock: s.clock, logger: silentLogger(), retry: { minDelayMs: 1000, maxDelayMs: 60_000, maxAttempts: 5, deadlineMs: 600_000 }, group: { windowMs: 30 * S }, timers: s.timers, random: () => 0.5 });
    await m2.start();
    cleanup.push(async () => {
      await m2.stop();
      s.db.close();
    });
    await s.timers.advance(8 * S);
    expect((await down(m2, 1, s.clock.now())).id).toBe(first.id);
    expect((await m2.listIncidents({ open: true })).length).toBe(1);
  });

  it('partial recovery: a member that recovers is shown recovered; the incident stays open', async () => {
    const { m, pd, timers } = await started();
    const inc = await down(m, 0, T0);
    await down(m, 1, T0);
    await down(m, 2, T0);
    await timers.advance(2 * S);
    expect(await m.checkRecovered({ check: 'card-1', at: T0 + 3 * S, reason: 'events received' })).toMatchObject({ id: inc.id, status: 'open' });
    await timers.advance(20 * S);
    expect(pd.actions()).toEqual(['trigger', 'trigger', 'trigger']);
    const last = group(pd.sent[2]!)!;
    expect(last).toMatchObject({ downTotal: 2, recoveredTotal: 1 });
    expect(last.members.find((x) => x.check === 'card-1')!.status).toBe('recovered');
    expect(pd.sent[2]!.n.summary).toMatch(/^2 checks down .*; 1 recovered$/);
    expect((await m.getIncident(inc.id))!.status).toBe('open');
  });

  it('resolve: the incident resolves, with the same dedup key, when its last member recovers', async () => {
    const { m, pd, slack, timers } = await started();
    const inc = await down(m, 0, T0);
    await down(m, 1, T0);
    await timers.advance(2 * S);
    await m.checkRecovered({ check: 'card-0', at: T0 + 3 * S, reason: 'events received' });
    expect(await m.checkRecovered({ check: 'card-1', at: T0 + 4 * S, reason: 'events received' })).toMatchObject({ status: 'resolved' });
    await timers.advance(1 * S);
    expect(pd.actions()).toEqual(['trigger', 'trigger', 'resolve']);
    expect(new Set(pd.sent.map((s) => s.n.dedupKey))).toEqual(new Set([inc.dedupKey]));
    expect(pd.sent[2]!.n.summary).toMatch(/^all 2 checks recovered/);
    expect(slack.actions()).toEqual(['trigger', 'trigger', 'resolve']);
    expect((await m.listIncidents({ open: true })).length).toBe(0);
    // The next outage is a new incident.
    expect((await down(m, 0, T0 + 10 * S)).id).not.toBe(inc.id);
  });

  it('a member that goes down again while its incident is open is the same outage: no new page', async () => {
    const { m, pd, timers } = await started();
    const inc = await down(m, 0, T0);
    await down(m, 1, T0);
    await timers.advance(2 * S);
    await m.checkRecovered({ check: 'card-0', at: T0 + 3 * S, reason: 'events received' });
    expect((await down(m, 0, T0 + 5 * S)).id).toBe(inc.id);
    await timers.advance(60 * S);
    expect(pd.actions().filter((a) => a === 'trigger').length).toBeLessThanOrEqual(3);
    expect(pd.incidentKeys()).toEqual([inc.dedupKey]);
  });

  it('by: none pages each check on its own; by labels splits the route', async () => {
    const a = await started({ group: { by: 'none' } });
    await down(a.m, 0, T0);
    await down(a.m, 1, T0);
    await a.timers.advance(2 * S);
    expect(a.pd.incidentKeys()).toHaveLength(2);

    const b = await started({ group: { by: ['scheme'] } });
    const v0 = await down(b.m, 0, T0);
    const m1 = await down(b.m, 1, T0);
    const v2 = await down(b.m, 2, T0);
    expect(v2.id).toBe(v0.id);
    expect(m1.id).not.toBe(v0.id);
    expect(groupOf({ ...DEFAULT_GROUP_POLICY, by: ['scheme'] }, { default: { warning: [], page: [] }, overrides: [] }, { check: 'x', labels: { scheme: 'visa' } }).name).toBe('visa');
  });

  it('a storm of 5,000 checks on one route: at most 5 PagerDuty requests in its first minute, every member in the page within 2 s', async () => {
    const { m, pd, timers } = await started();
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 5000; i++) calls.push(down(m, i, T0 + (i % 500)));
    await Promise.all(calls);
    await timers.advance(2 * S);
    expect(group(pd.sent.at(-1)!)!.downTotal).toBe(5000);
    expect(pd.sent.at(-1)!.at - T0).toBeLessThanOrEqual(2 * S);
    await timers.advance(58 * S);
    expect(pd.sent.filter((s) => s.at < T0 + 60 * S).length).toBeLessThanOrEqual(5);
    expect(pd.incidentKeys()).toHaveLength(1);
    expect(group(pd.sent.at(-1)!)!.members.length).toBe(DEFAULT_GROUP_POLICY.maxListed); // named up to the cap, the rest counted
  });

  it('a storm worked through over 5 s: every member is in the page within 1 s of going down (those after the fourth update: once the storm settles), in at most 5 requests', async () => {
    const { m, pd, timers } = await started();
    const downAt = new Map<number, number>();
    for (let i = 0; i < 50; i++) {
      downAt.set(i, T0 + i * 100);
      await down(m, i, T0 + i * 100);
      await timers.advance(100);
    }
    await timers.advance(3 * S);
    expect(pd.sent.length).toBeLessThanOrEqual(5);
    expect(group(pd.sent.at(-1)!)!.downTotal).toBe(50);
    // the n-th member is first counted by the first request sent after it went down
    for (const [i, at] of downAt) {
      const shown = pd.sent.find((x) => x.at >= at && group(x) !== undefined ? group(x)!.downTotal > i : x.at >= at && i === 0);
      expect(shown, `member ${i}`).toBeDefined();
      // The fifth message waits for the storm to settle: 250 ms after the last member (T0 + 4.9 s).
      const bound = shown!.at > T0 + 3 * S ? T0 + 4900 + DEFAULT_GROUP_POLICY.settleMs - at : DEFAULT_GROUP_POLICY.quickUpdateByMs;
      expect(shown!.at - at, `member ${i}`).toBeLessThanOrEqual(bound);
    }
    expect(pd.sent.at(-1)!.at).toBe(T0 + 4900 + DEFAULT_GROUP_POLICY.settleMs);
  });

  it('a storm that outlasts the quick updates (12 s): the last message of the first minute waits for it to settle, not for the minute', async () => {
    const { m, pd, timers } = await started();
    for (let i = 0; i < 120; i++) {
      await down(m, i, T0 + i * 100);
      await timers.advance(100);
    }
    // The last member went down at T0 + 11.9 s: it is in a page well before the minute is out.
    await timers.advance(2 * S);
    const last = pd.sent.at(-1)!;
    expect(group(last)!.downTotal).toBe(120);
    expect(last.at - (T0 + 11_900)).toBeLessThanOrEqual(DEFAULT_GROUP_POLICY.quickUpdateByMs);
    expect(last.at - (T0 + 11_900)).toBeGreaterThanOrEqual(DEFAULT_GROUP_POLICY.settleMs); // once settled
    await timers.advance(60 * S);
    expect(pd.sent.filter((s) => s.at < T0 + 60 * S).length).toBe(5);
    expect(pd.incidentKeys()).toHaveLength(1);
  });

  it('the worst first minute (a member every second for a minute) is still at most 5 PagerDuty requests', async () => {
    const { m, pd, timers } = await started();
    for (let i = 0; i < 60; i++) {
      await down(m, i, T0 + i * S);
      await timers.advance(1 * S);
    }
    expect(pd.sent.filter((s) => s.at < T0 + 60 * S).length).toBeLessThanOrEqual(5);
    expect(pd.incidentKeys()).toHaveLength(1);
  });

  it('the summary names few label values and counts many', () => {
    const mk = (i: number): Member => ({ check: `c${i}`, labels: labels(i), status: 'down', downAt: T0, reason: 'x' });
    expect(describeDown([mk(0), mk(1), mk(2), mk(3), mk(4), mk(5)])).toBe('6 checks down (visa, mastercard × 5 regions)');
    expect(describeDown([mk(0)])).toBe('1 check down (visa × r0)');
  });

  it('alerts.group is validated with the alerts config', () => {
    expect(alertsConfigSchema.parse({}).group).toEqual({ by: 'route', window: 30_000, firstUpdateAfter: 500, settle: 250, firstUpdateBy: 1000, quickUpdates: 4, quickUpdateBy: 1000, updateEvery: 30_000, maxListed: 50 });
    expect(alertsConfigSchema.parse({ group: { by: ['team'], window: '2m' } }).group).toMatchObject({ by: ['team'], window: 120_000 });
    expect(alertsConfigSchema.safeParse({ group: { by: 'everything' } }).success).toBe(false);
  });
});
