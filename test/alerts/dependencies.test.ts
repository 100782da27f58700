/**
 * Dependencies in virtual time: while an upstream is down, a dependent's page is held in the
 * upstream's incident; released if it is still down when the upstream recovers; never sent if it
 * recovers first. Cycles are refused.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { AlertManager } from '../../src/alerts/manager.ts';
import { dependenciesFrom, formatProblem, validateDependencies } from '../../src/alerts/dependencies.ts';
import { memoryStore, RecordingNotifier, VirtualTimers } from './helpers.ts';

const T0 = Date.parse('2026-06-01T10:00:00Z');
const S = 1000;
const DEPS = new Map([
  ['card-visa', ['acquirer-gateway']],
  ['card-mc', ['acquirer-gateway']],
]);

function setup(group: 'route' | 'none' = 'route') {
  const clock = new ManualClock(T0);
  const timers = new VirtualTimers(clock);
  const pd = new RecordingNotifier('pd', 'pagerduty', clock);
  const { db, store } = memoryStore();
  const m = new AlertManager({
    store,
    notifiers: { pd },
    routes: { default: { warning: [], page: ['pd'] }, overrides: [] },
    clock,
    logger: silentLogger(),
    retry: { minDelayMs: 1000, maxDelayMs: 60_000, maxAttempts: 5, deadlineMs: 600_000 },
    group: { by: group },
    dependencies: DEPS,
    timers,
    random: () => 0.5,
  });
  return { clock, timers, pd, db, store, m };
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup) await c();
  cleanup = [];
});
async function started(group: 'route' | 'none' = 'none') {
  const s = setup(group);
  await s.m.start();
  cleanup.push(async () => {
    await s.m.stop();
    s.db.close();
  });
  return s;
}
const down = (m: AlertManager, check: string, at: number) => m.checkDown({ check, labels: {}, at, reason: 'no events' });
const up = (m: AlertManager, check: string, at: number) => m.checkRecovered({ check, at, reason: 'events received' });

describe('dependencies', () => {
  it('held: while the upstream is down a dependent does not page; it is listed as held in the upstream incident', async () => {
    const { m, pd, timers } = await started();
    const gw = await down(m, 'acquirer-gateway', T0);
    const visa = await down(m, 'card-visa', T0 + 2 * S);
    expect(visa.id).toBe(gw.id);
    await timers.advance(5 * S);
    expect(pd.incidentKeys()).toEqual([gw.dedupKey]);
    expect(m.members(gw.id).find((x) => x.check === 'card-visa')).toMatchObject({ status: 'held', heldBy: 'acquirer-gateway' });
    expect((await m.getIncident(gw.id))!.summary).toMatch(/1 held \(upstream down\)/);
    const last = pd.sent.at(-1)!.n.details.extra?.group as { heldTotal: number; members: { check: string; heldBy?: string }[] };
    expect(last.heldTotal).toBe(1);
    expect(last.members.find((x) => x.check === 'card-visa')!.heldBy).toBe('acquirer-gateway');
  });

  it('released: a dependent still down when the upstream recovers pages on its own', async () => {
    const { m, pd, timers } = await started();
    const gw = await down(m, 'acquirer-gateway', T0);
    await down(m, 'card-visa', T0 + 2 * S);
    await timers.advance(5 * S);
    expect(await up(m, 'acquirer-gateway', T0 + 10 * S)).toMatchObject({ id: gw.id, status: 'resolved' });
    await timers.advance(1 * S);
    const visa = (await m.listIncidents({ open: true, check: 'card-visa' }))[0]!;
    expect(visa.id).not.toBe(gw.id);
    expect(visa.summary).toMatch(/held while acquirer-gateway was down/);
    expect(pd.sent.filter((s) => s.n.action === 'trigger' && s.n.dedupKey === visa.dedupKey)).toHaveLength(1);
    expect(pd.sent.find((s) => s.n.action === 'resolve')!.n.dedupKey).toBe(gw.dedupKey);
  });

  it('a dependent that recovers while held never pages', async () => {
    const { m, pd, timers } = await started();
    const gw = await down(m, 'acquirer-gateway', T0);
    await down(m, 'card-visa', T0 + 2 * S);
    await up(m, 'card-visa', T0 + 3 * S);
    await up(m, 'acquirer-gateway', T0 + 4 * S);
    await timers.advance(30 * S);
    expect(pd.incidentKeys()).toEqual([gw.dedupKey]);
    expect((await m.listIncidents({ open: true })).length).toBe(0);
  });

  it('with grouping by route too: held dependents do not keep the upstream incident open, and are released into a new one', async () => {
    const { m, pd, timers } = await started('route');
    const gw = await down(m, 'acquirer-gateway', T0);
    await down(m, 'card-visa', T0 + 1 * S);
    await down(m, 'card-mc', T0 + 1 * S);
    await timers.advance(5 * S);
    expect(pd.incidentKeys()).toEqual([gw.dedupKey]);
    await up(m, 'acquirer-gateway', T0 + 6 * S);
    await timers.advance(2 * S);
    const open = await m.listIncidents({ open: true });
    expect(open).toHaveLength(1); // both released dependents share one new incident (same route)
    expect(m.members(open[0]!.id).map((x) => x.check).sort()).toEqual(['card-mc', 'card-visa']);
    expect((await m.getIncident(gw.id))!.status).toBe('resolved');
  });

  it('an upstream that is not down does not hold anything', async () => {
    const { m, pd, timers } = await started();
    const visa = await down(m, 'card-visa', T0);
    await timers.advance(1 * S);
    expect(pd.incidentKeys()).toEqual([visa.dedupKey]);
  });

  it('cycle rejected: config problems name the path, all at once; the manager refuses a cycle', () => {
    const problems = validateDependencies([
      { name: 'a', dependsOn: ['b'] },
      { name: 'b', dependsOn: ['c'] },
      { name: 'c', dependsOn: ['a'] },
      { name: 'd', dependsOn: ['d', 'nope'] },
    ]).map(formatProblem);
    expect(problems).toEqual([
      'checks[3].dependsOn[0]: a check cannot depend on itself ("d")',
      'checks[3].dependsOn[1]: unknown check "nope"',
      'checks[2].dependsOn[0]: dependency cycle: a -> b -> c -> a',
    ]);
    expect(validateDependencies([{ name: 'a', dependsOn: ['b'] }, { name: 'b' }])).toEqual([]);
    expect(
      () =>
        new AlertManager({
          store: memoryStore().store,
          notifiers: {},
          routes: { default: { warning: [], page: [] }, overrides: [] },
          clock: new ManualClock(T0),
          logger: silentLogger(),
          retry: { minDelayMs: 1, maxDelayMs: 1, maxAttempts: 1, deadlineMs: 1 },
          dependencies: dependenciesFrom([
            { name: 'x', dependsOn: ['y'] },
            { name: 'y', dependsOn: ['x'] },
          ]),
        }),
    ).toThrow(/dependency cycle: x -> y -> x/);
  });
});

describe('checks[].dependsOn in the config', () => {
  it('a cycle or an unknown check stops start-up with the path of each problem', async () => {
    const { parseConfig } = await import('../../src/config/load.ts');
    const yaml = (deps: string) => `
checks:
  - { name: gw, quietAfter: 30s, pageAfter: 2m${deps.includes('gw:') ? `, dependsOn: [${deps.split('gw:')[1]!.split(';')[0]}]` : ''} }
  - { name: visa, quietAfter: 30s, pageAfter: 2m, dependsOn: [gw] }
  - { name: mc, quietAfter: 30s, pageAfter: 2m, dependsOn: [${deps.split('mc:')[1] ?? 'gw'}] }
`;
    expect(parseConfig(yaml(''), '<t>', {}).checks[1]!.dependsOn).toEqual(['gw']);
    expect(() => parseConfig(yaml('gw:visa;'), '<t>', {})).toThrow(/checks\[1\]\.dependsOn\[0\]:? dependency cycle: gw -> visa -> gw/);
    expect(() => parseConfig(yaml('mc:nope'), '<t>', {})).toThrow(/checks\[2\]\.dependsOn\[0\]:? unknown check "nope"/);
  });
});
