/**
 * AlertManager logic in virtual time: a ManualClock, injected timers and recording notifiers
 * (the HTTP side is covered against contract servers in manager.test.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { AlertManager, type AlertManagerOptions } from '../../src/alerts/manager.ts';
import type { AlertRoutes } from '../../src/alerts/config.ts';
import type { DeliveryRecord, MaintenanceWindow } from '../../src/alerts/types.ts';
import { memoryStore, RecordingNotifier, VirtualTimers } from './helpers.ts';

const T = (iso: string) => Date.parse(iso);
const MIN = 60_000;

function setup(p: {
  start: string;
  routes?: AlertRoutes;
  windows?: MaintenanceWindow[];
  escalation?: AlertManagerOptions['escalation'];
  reminderEvery?: number;
}) {
  const clock = new ManualClock(T(p.start));
  const timers = new VirtualTimers(clock);
  const pd = new RecordingNotifier('pd', 'pagerduty', clock);
  const slack = new RecordingNotifier('slack', 'slack', clock);
  const sms = new RecordingNotifier('sms', 'sns', clock);
  const { db, store } = memoryStore();
  const deliveries: DeliveryRecord[] = [];
  const m = new AlertManager({
    store,
    notifiers: { pd, slack, sms },
    routes: p.routes ?? { default: { warning: ['slack'], page: ['pd', 'slack'] }, overrides: [] },
    clock,
    logger: silentLogger(),
    escalation: p.escalation,
    reminderEvery: p.reminderEvery,
    retry: { minDelayMs: 1000, maxDelayMs: 60_000, maxAttempts: 5, deadlineMs: 10 * MIN },
    silences: p.windows,
    timers,
    random: () => 0.5,
    onDelivery: (r) => deliveries.push(r),
  });
  return { clock, timers, pd, slack, sms, db, store, m, deliveries };
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup) await c();
  cleanup = [];
});
async function started(p: Parameters<typeof setup>[0]) {
  const s = setup(p);
  await s.m.start();
  cleanup.push(async () => {
    await s.m.stop();
    s.db.close();
  });
  return s;
}

describe('AlertManager (virtual time)', () => {
  it('opens one incident per outage and pages once, then resolves with the same dedup key', async () => {
    const { m, pd, slack, timers } = await started({ start: '2026-06-01T10:00:00Z' });
    const inc = await m.checkDown({ check: 'card-auth', labels: {}, at: T('2026-06-01T09:59:30Z'), reason: 'no events for 4m' });
    const again = await m.checkDown({ check: 'card-auth', labels: {}, at: T('2026-06-01T10:00:10Z'), reason: 'still nothing' });
    expect(again.id).toBe(inc.id);
    await timers.advance(1000);
    await m.checkRecovered({ check: 'card-auth', at: T('2026-06-01T10:05:00Z'), reason: 'events are back' });
    await timers.advance(1000);
    expect(pd.actions()).toEqual(['trigger', 'resolve']);
    expect(new Set(pd.sent.map((s) => s.n.dedupKey))).toEqual(new Set([inc.dedupKey]));
    expect(slack.actions()).toEqual(['trigger', 'resolve']);
    expect(slack.sent[1]!.prior).toEqual({ ref: 'slack-1' }); // the resolve refers to the first message's receipt
    expect((await m.getIncident(inc.id))!.status).toBe('resolved');
  });

  it('sends nothing when a check recovers without an open incident', async () => {
    const { m, pd, slack, timers } = await started({ start: '2026-06-01T10:00:00Z' });
    expect(await m.checkRecovered({ check: 'card-auth', at: T('2026-06-01T10:00:00Z'), reason: 'ok' })).toBeUndefined();
    await timers.advance(MIN);
    expect(pd.sent).toEqual([]);
    expect(slack.sent).toEqual([]);
  });

  it('routes warnings to the warning route only, never to PagerDuty', async () => {
    const { m, pd, slack, timers } = await started({ start: '2026-06-01T10:00:00Z' });
    await m.warning({ check: 'card-auth', at: T('2026-06-01T10:00:00Z'), kind: 'quiet', summary: 'quieter than usual' });
    await timers.advance(1000);
    expect(pd.sent).toEqual([]);
    expect(slack.actions()).toEqual(['warning']);
  });

  it('refuses a config that routes warnings to PagerDuty or names unknown notifiers', () => {
    expect(() => setup({ start: '2026-06-01T10:00:00Z', routes: { default: { warning: ['pd'], page: [] }, overrides: [] } })).toThrow(/never go to PagerDuty/);
    expect(() => setup({ start: '2026-06-01T10:00:00Z', routes: { default: { warning: [], page: ['nope'] }, overrides: [] } })).toThrow(/unknown notifier "nope"/);
  });

  it('uses per-check route overrides by name or label', async () => {
    const { m, pd, slack, timers } = await started({
      start: '2026-06-01T10:00:00Z',
      routes: {
        default: { warning: ['slack'], page: ['pd', 'slack'] },
        overrides: [{ match: { labels: { env: 'staging' } }, page: ['slack'] }],
      },
    });
    await m.checkDown({ check: 'card-auth-staging', labels: { env: 'staging' }, at: T('2026-06-01T10:00:00Z'), reason: 'x' });
    await timers.advance(1000);
    expect(pd.sent).toEqual([]);
    expect(slack.actions()).toEqual(['trigger']);
  });

  it('retries with backoff and honours Retry-After-style delays, then delivers', async () => {
    const { m, pd, timers, deliveries } = await started({ start: '2026-06-01T10:00:00Z' });
    pd.failures.push('retry', 'retry');
    await m.checkDown({ check: 'c', labels: {}, at: T('2026-06-01T10:00:00Z'), reason: 'x' });
    await timers.advance(0);
    expect(pd.sent).toEqual([]);
    // equal jitter with random()=0.5: 1000 -> 750 ms, then 2000 -> 1500 ms
    await timers.advance(749);
    expect(pd.sent).toEqual([]);
    await timers.advance(1);
    expect(pd.sent).toEqual([]);
    await timers.advance(1500);
    expect(pd.actions()).toEqual(['trigger']);
    expect(deliveries.filter((d) => d.notifier === 'pd').map((d) => d.outcome)).toEqual(['retry', 'retry', 'delivered']);
    expect((await m.health()).pendingPages).toBe(0);
  });

  it('stops on a permanent error and reports it in health() until the notifier works again', async () => {
    const { m, pd, timers } = await started({ start: '2026-06-01T10:00:00Z' });
    pd.failures.push('permanent');
    await m.checkDown({ check: 'c', labels: {}, at: T('2026-06-01T10:00:00Z'), reason: 'x' });
    await timers.advance(10 * MIN);
    expect(pd.sent).toEqual([]);
    const h = await m.health();
    expect(h.ok).toBe(false);
    expect(h.permanentFailures).toEqual([{ notifier: 'pd', code: 'TEST_PERMANENT', message: 'scripted permanent failure', at: T('2026-06-01T10:00:00Z') }]);
    expect(h.pendingPages).toBe(0);
    await m.checkRecovered({ check: 'c', at: T('2026-06-01T10:20:00Z'), reason: 'ok' });
    await timers.advance(1000);
    expect((await m.health()).ok).toBe(true);
  });

  it('escalates through the fallback route when the page is not delivered in time, and says so in Slack', async () => {
    const { m, pd, slack, sms, timers } = await started({
      start: '2026-06-01T10:00:00Z',
      escalation: { after: 5 * MIN, fallback: ['sms'] },
    });
    pd.failures.push(...Array(30).fill('retry'));
    const inc = await m.checkDown({ check: 'c', labels: {}, at: T('2026-06-01T10:00:00Z'), reason: 'x' });
    await timers.advance(5 * MIN - 1);
    expect(sms.sent).toEqual([]);
    await timers.advance(1);
    expect(sms.actions()).toEqual(['trigger']);
    expect(sms.sent[0]!.n.details.escalated).toBe(true);
    expect(sms.sent[0]!.n.dedupKey).toBe(inc.dedupKey);
    expect(slack.sent.map((s) => [s.n.action, s.n.details.escalated ?? false])).toEqual([
      ['trigger', false],
      ['trigger', true],
    ]);
    expect((await m.getIncident(inc.id))!.escalatedAt).toBe(T('2026-06-01T10:05:00Z'));
    // PagerDuty comes back: the page still goes out, and the resolve reaches every route
    pd.failures.length = 0;
    await timers.advance(2 * MIN);
    expect(pd.actions()).toEqual(['trigger']);
    await m.checkRecovered({ check: 'c', at: T('2026-06-01T10:10:00Z'), reason: 'ok' });
    await timers.advance(1000);
    expect(pd.actions()).toEqual(['trigger', 'resolve']);
    expect(sms.actions()).toEqual(['trigger', 'resolve']);
  });

  it('escalates at once when the pager fails permanently', async () => {
    const { m, pd, sms, timers } = await started({ start: '2026-06-01T10:00:00Z', escalation: { after: 5 * MIN, fallback: ['sms'] } });
    pd.failures.push('permanent');
    await m.checkDown({ check: 'c', labels: {}, at: T('2026-06-01T10:00:00Z'), reason: 'x' });
    await timers.advance(1);
    expect(sms.actions()).toEqual(['trigger']);
  });

  it('does not escalate when the page was delivered', async () => {
    const { m, sms, timers } = await started({ start: '2026-06-01T10:00:00Z', escalation: { after: 5 * MIN, fallback: ['sms'] } });
    await m.checkDown({ check: 'c', labels: {}, at: T('2026-06-01T10:00:00Z'), reason: 'x' });
    await timers.advance(30 * MIN);
    expect(sms.sent).toEqual([]);
  });

  it('reminds about unacknowledged incidents in chat (not PagerDuty) and stops after ack', async () => {
    const { m, pd, slack, timers } = await started({ start: '2026-06-01T10:00:00Z', reminderEvery: 30 * MIN });
    const inc = await m.checkDown({ check: 'c', labels: {}, at: T('2026-06-01T10:00:00Z'), reason: 'x' });
    await timers.advance(30 * MIN);
    await timers.advance(30 * MIN);
    expect(slack.actions()).toEqual(['trigger', 'reminder', 'reminder']);
    expect(pd.actions()).toEqual(['trigger']);
    await m.ack(inc.id, 'ana');
    await timers.advance(2 * 60 * MIN);
    expect(slack.actions()).toEqual(['trigger', 'reminder', 'reminder', 'acknowledge']);
    expect(pd.actions()).toEqual(['trigger', 'acknowledge']);
    expect(slack.sent.at(-1)!.n.details.ackedBy).toBe('ana');
  });

  describe('silences', () => {
    it('holds a silenced check’s page and sends it when the silence ends if still down', async () => {
      const { m, pd, slack, timers, clock } = await started({ start: '2026-06-01T10:00:00Z' });
      await m.addSilence({ matchers: { check: 'c' }, startsAt: T('2026-06-01T10:00:00Z'), endsAt: T('2026-06-01T12:00:00Z'), reason: 'deploy', createdBy: 'ana' });
      const inc = await m.checkDown({ check: 'c', labels: {}, at: T('2026-06-01T10:30:00Z'), reason: 'x' });
      await timers.advanceTo(T('2026-06-01T11:59:59Z'));
      expect(pd.sent).toEqual([]);
      expect(slack.sent).toEqual([]);
      expect((await m.getIncident(inc.id))!.releasedAt).toBeUndefined();
      expect((await m.health()).pendingPages).toBe(0);
      await timers.advanceTo(T('2026-06-01T12:00:00Z'));
      expect(pd.actions()).toEqual(['trigger']);
      expect(pd.sent[0]!.at).toBe(T('2026-06-01T12:00:00Z'));
      expect(clock.now()).toBe(T('2026-06-01T12:00:00Z'));
    });

    it('sends nothing at all when the incident resolves during the silence', async () => {
      const { m, pd, slack, timers } = await started({ start: '2026-06-01T10:00:00Z' });
      await m.addSilence({ matchers: { labels: { team: 'payments' } }, startsAt: T('2026-06-01T10:00:00Z'), endsAt: T('2026-06-01T12:00:00Z'), reason: 'deploy', createdBy: 'ana' });
      const inc = await m.checkDown({ check: 'c', labels: { team: 'payments' }, at: T('2026-06-01T10:30:00Z'), reason: 'x' });
      await m.ack(inc.id, 'ana');
      await timers.advanceTo(T('2026-06-01T11:00:00Z'));
      await m.checkRecovered({ check: 'c', at: T('2026-06-01T11:00:00Z'), reason: 'ok' });
      await timers.advanceTo(T('2026-06-01T15:00:00Z'));
      expect(pd.sent).toEqual([]);
      expect(slack.sent).toEqual([]);
      expect((await m.deliveries(inc.id)).map((r) => r.status)).toEqual(['cancelled', 'cancelled', 'cancelled', 'cancelled']);
    });

    it('releases held pages when a silence is deleted', async () => {
      const { m, pd, timers } = await started({ start: '2026-06-01T10:00:00Z' });
      const s = await m.addSilence({ matchers: { check: 'c' }, startsAt: T('2026-06-01T10:00:00Z'), endsAt: T('2026-06-01T12:00:00Z'), reason: 'deploy', createdBy: 'ana' });
      await m.checkDown({ check: 'c', labels: {}, at: T('2026-06-01T10:00:00Z'), reason: 'x' });
      await timers.advance(MIN);
      expect(pd.sent).toEqual([]);
      expect(await m.deleteSilence(s.id)).toBe(true);
      await timers.advance(0);
      expect(pd.actions()).toEqual(['trigger']);
    });

    it('records but does not send warnings during a silence', async () => {
      const { m, slack, timers } = await started({ start: '2026-06-01T10:00:00Z' });
      await m.addSilence({ matchers: { check: 'c' }, startsAt: T('2026-06-01T10:00:00Z'), endsAt: T('2026-06-01T12:00:00Z'), reason: 'deploy', createdBy: 'ana' });
      await m.warning({ check: 'c', at: T('2026-06-01T10:00:00Z'), kind: 'budget', summary: 'probe budget spent' });
      await timers.advance(3 * 60 * MIN);
      expect(slack.sent).toEqual([]);
    });

    it('does not start the escalation clock while a page is held', async () => {
      const { m, sms, pd, timers } = await started({ start: '2026-06-01T10:00:00Z', escalation: { after: 5 * MIN, fallback: ['sms'] } });
      await m.addSilence({ matchers: { check: 'c' }, startsAt: T('2026-06-01T10:00:00Z'), endsAt: T('2026-06-01T11:00:00Z'), reason: 'deploy', createdBy: 'ana' });
      await m.checkDown({ check: 'c', labels: {}, at: T('2026-06-01T10:00:00Z'), reason: 'x' });
      await timers.advanceTo(T('2026-06-01T11:30:00Z'));
      expect(sms.sent).toEqual([]);
      expect(pd.actions()).toEqual(['trigger']);
    });

    // Europe/London, spring forward on 2026-03-29: a nightly window "30 1 * * *" for 2 h
    // cannot start at 01:30 (it does not exist); it starts at 02:00 BST = 01:00Z and ends at 03:00Z.
    it('holds pages through a maintenance window across the spring-forward change', async () => {
      const win: MaintenanceWindow = { name: 'nightly-batch', cron: '30 1 * * *', durationMs: 120 * MIN, timezone: 'Europe/London', matchers: { labels: { team: 'payments' } } };
      const { m, pd, timers } = await started({ start: '2026-03-29T00:50:00Z', windows: [win] });
      // before the window: pages go out at once
      await m.checkDown({ check: 'a', labels: { team: 'payments' }, at: T('2026-03-29T00:50:00Z'), reason: 'x' });
      await timers.advance(0);
      expect(pd.sent.map((s) => s.n.check)).toEqual(['a']);
      await timers.advanceTo(T('2026-03-29T01:10:00Z'));
      await m.checkDown({ check: 'b', labels: { team: 'payments' }, at: T('2026-03-29T01:10:00Z'), reason: 'x' });
      await timers.advanceTo(T('2026-03-29T02:59:59Z'));
      expect(pd.sent.map((s) => s.n.check)).toEqual(['a']);
      await timers.advanceTo(T('2026-03-29T03:00:00Z'));
      expect(pd.sent.map((s) => [s.n.check, new Date(s.at).toISOString()])).toEqual([
        ['a', '2026-03-29T00:50:00.000Z'],
        ['b', '2026-03-29T03:00:00.000Z'],
      ]);
    });

    // Europe/London, fall back on 2026-10-25: 01:30 happens twice; the window opens at the first
    // (00:30Z, BST) and lasts 2 h of real time, to 02:30Z.
    it('holds pages through a maintenance window across the fall-back change', async () => {
      const win: MaintenanceWindow = { name: 'nightly-batch', cron: '30 1 * * *', durationMs: 120 * MIN, timezone: 'Europe/London', matchers: { check: 'b' } };
      const { m, pd, timers } = await started({ start: '2026-10-25T00:00:00Z', windows: [win] });
      await timers.advanceTo(T('2026-10-25T01:45:00Z')); // 01:45 GMT, the second 01:45 of the night
      await m.checkDown({ check: 'b', labels: {}, at: T('2026-10-25T01:45:00Z'), reason: 'x' });
      await timers.advanceTo(T('2026-10-25T02:29:59Z'));
      expect(pd.sent).toEqual([]);
      await timers.advanceTo(T('2026-10-25T02:30:00Z'));
      expect(pd.sent.map((s) => new Date(s.at).toISOString())).toEqual(['2026-10-25T02:30:00.000Z']);
    });

    it('keeps holding across a restart and releases at the end of the window', async () => {
      const s = setup({ start: '2026-06-01T10:00:00Z' });
      await s.m.start();
      await s.m.addSilence({ matchers: { check: 'c' }, startsAt: T('2026-06-01T10:00:00Z'), endsAt: T('2026-06-01T11:00:00Z'), reason: 'deploy', createdBy: 'ana' });
      await s.m.checkDown({ check: 'c', labels: {}, at: T('2026-06-01T10:05:00Z'), reason: 'x' });
      await s.m.stop();
      // a new manager on the same store
      const m2 = new AlertManager({
        store: s.store,
        notifiers: { pd: s.pd, slack: s.slack, sms: s.sms },
        routes: { default: { warning: ['slack'], page: ['pd', 'slack'] }, overrides: [] },
        clock: s.clock,
        logger: silentLogger(),
        retry: { minDelayMs: 1000, maxDelayMs: 60_000, maxAttempts: 5, deadlineMs: 600_000 },
        timers: s.timers,
      });
      await m2.start();
      cleanup.push(async () => {
        await m2.stop();
        s.db.close();
      });
      await s.timers.advanceTo(T('2026-06-01T10:59:00Z'));
      expect(s.pd.sent).toEqual([]);
      await s.timers.advanceTo(T('2026-06-01T11:00:00Z'));
      expect(s.pd.actions()).toEqual(['trigger']);
    });
  });
});
