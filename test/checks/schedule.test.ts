/**
 * Schedule-shaped checks through the pure engine, with explicit instants: late at the slot, down
 * after grace, DST both ways in Europe/London and America/New_York, a slot missed, a late file,
 * start/success/fail runs (overlapping too), and a restart across a slot.
 */
import { describe, expect, it } from 'vitest';
import { initialState, nextDeadline, step } from '../../src/checks/engine.ts';
import { ScheduleLimits } from '../../src/checks/schedule.ts';
import type { CheckInput, CheckSpec, CheckState, Effect } from '../../src/checks/types.ts';

const H = 3_600_000;
const M = 60_000;
const T = (iso: string) => Date.parse(iso);

function scheduleSpec(cron: string, timezone: string, graceMs: number, extra: Partial<CheckSpec> = {}): CheckSpec {
  return { name: 'settlement', stream: 'settlement', match: {}, quietAfterMs: 30_000, pageAfterMs: 600_000, labels: {}, limits: new ScheduleLimits({ cron, timezone, graceMs }), ...extra };
}

/** Drives the engine like the runtime: every deadline up to `to` is ticked at its own instant. */
class Drive {
  state: CheckState;
  flips: Array<{ to: string; at: number; reason: string }> = [];
  effects: Effect[] = [];
  constructor(
    readonly spec: CheckSpec,
    start: number,
  ) {
    this.state = initialState(start);
  }
  until(to: number): this {
    for (let d = nextDeadline(this.spec, this.state); d !== null && d <= to; d = nextDeadline(this.spec, this.state)) this.apply(d, { kind: 'tick' });
    return this;
  }
  at(t: number, input: CheckInput): this {
    this.until(t);
    return this.apply(t, input);
  }
  event(iso: string, runId?: string): this {
    const t = T(iso);
    return this.at(t, { kind: 'event', at: t, time: t, ...(runId ? { runId } : {}) });
  }
  /** The service comes back at t after being down: no deadline was ticked meanwhile. */
  restart(t: number): this {
    return this.apply(t, { kind: 'restart' });
  }
  private apply(now: number, input: CheckInput): this {
    const r = step(this.spec, this.state, input, { now, newProbeId: () => 'pr_1' });
    this.state = r.state;
    for (const e of r.effects) {
      this.effects.push(e);
      if (e.type === 'flip') this.flips.push({ to: e.to, at: e.at, reason: e.reason });
    }
    return this;
  }
  iso(to: string) {
    return this.flips.filter((f) => f.to === to).map((f) => new Date(f.at).toISOString());
  }
}

describe('schedule checks: late at the slot, down after grace', () => {
  const weekdays = () => scheduleSpec('30 5 * * 1-5', 'Europe/London', H);

  it('a missed slot: late at 05:30, down at 06:30 exactly, with a reason naming the slot', () => {
    const d = new Drive(weekdays(), T('2026-11-30T05:45:00Z')).event('2026-11-30T05:45:00Z').until(T('2026-12-01T12:00:00Z'));
    expect(d.iso('quiet')).toEqual(['2026-12-01T05:30:00.000Z']);
    expect(d.iso('down')).toEqual(['2026-12-01T06:30:00.000Z']);
    expect(d.effects.filter((e) => e.type === 'alert' && e.kind === 'down')).toHaveLength(1);
  });

  it('with a probe ("is today\'s file there?"): it fires at the slot; proven -> ok, never paged; lost -> down at the probe deadline, before grace', () => {
    const probe = { timeoutMs: 5 * M, backoffFactor: 1, backoffMaxMs: H };
    const at = (e: Effect) => new Date((e as { at: number }).at).toISOString();
    // proven: the probe's answer arrives 2 minutes after the slot
    const ok = new Drive(scheduleSpec('30 5 * * 1-5', 'Europe/London', H, { probe }), T('2026-11-30T05:45:00Z')).event('2026-11-30T05:45:00Z').until(T('2026-12-01T05:30:00Z'));
    const fired = ok.effects.filter((e) => e.type === 'fire-probe');
    expect(fired.map(at)).toEqual(['2026-12-01T05:30:00.000Z']);
    const t = T('2026-12-01T05:32:00Z');
    ok.at(t, { kind: 'event', at: t, time: t, probeId: (fired[0] as { probeId: string }).probeId }).until(T('2026-12-01T12:00:00Z'));
    expect(ok.iso('down')).toEqual([]);
    expect(ok.effects.filter((e) => e.type === 'alert' && e.kind === 'down')).toEqual([]);
    // lost: nothing comes back -> down when the probe times out (05:35), not at the end of grace (06:30)
    const lost = new Drive(scheduleSpec('30 5 * * 1-5', 'Europe/London', H, { probe }), T('2026-11-30T05:45:00Z')).event('2026-11-30T05:45:00Z');
    lost.until(T('2026-12-01T05:30:00Z'));
    lost.at(T('2026-12-01T05:30:01Z'), { kind: 'probe-result', probeId: 'pr_1', result: 'accepted' }).until(T('2026-12-01T12:00:00Z'));
    expect(lost.effects.filter((e) => e.type === 'fire-probe').map(at)).toEqual(['2026-12-01T05:30:00.000Z']);
    expect(lost.iso('down')).toEqual(['2026-12-01T05:35:00.000Z']);
  });

  it('a late file within grace: late, then ok, never down', () => {
    const d = new Drive(weekdays(), T('2026-11-30T05:45:00Z')).event('2026-11-30T05:45:00Z').event('2026-12-01T06:10:00Z').until(T('2026-12-01T23:00:00Z'));
    expect(d.iso('quiet')).toEqual(['2026-12-01T05:30:00.000Z']);
    expect(d.iso('down')).toEqual([]);
    expect(d.state.status).toBe('ok');
  });

  it('weekends are not slots: Friday\'s file is next expected on Monday', () => {
    const d = new Drive(weekdays(), T('2026-12-04T05:50:00Z')).event('2026-12-04T05:50:00Z').until(T('2026-12-07T06:00:00Z'));
    expect(d.iso('quiet')).toEqual(['2026-12-07T05:30:00.000Z']);
    expect(d.iso('down')).toEqual([]);
    expect(weekdays().limits!.describe(T('2026-12-05T12:00:00Z'))).toMatchObject({ source: 'schedule', nextSlotAt: T('2026-12-07T05:30:00Z'), graceMs: H });
  });

  it('DST forward (Europe/London 2026-03-29): the slot is 05:30 local, 04:30 UTC', () => {
    const d = new Drive(scheduleSpec('30 5 * * *', 'Europe/London', H), T('2026-03-28T05:40:00Z')).event('2026-03-28T05:40:00Z').until(T('2026-03-29T12:00:00Z'));
    expect(d.iso('quiet')).toEqual(['2026-03-29T04:30:00.000Z']);
    expect(d.iso('down')).toEqual(['2026-03-29T05:30:00.000Z']);
  });

  it('DST back (Europe/London 2026-10-25): the slot is 05:30 local, 05:30 UTC, 25 hours after the last', () => {
    const d = new Drive(scheduleSpec('30 5 * * *', 'Europe/London', H), T('2026-10-24T04:40:00Z')).event('2026-10-24T04:40:00Z').until(T('2026-10-25T12:00:00Z'));
    expect(d.iso('quiet')).toEqual(['2026-10-25T05:30:00.000Z']);
    expect(d.iso('down')).toEqual(['2026-10-25T06:30:00.000Z']);
  });

  it('a slot inside the hour that happens twice runs once (01:30 on 2026-10-25 in London)', () => {
    const l = new ScheduleLimits({ cron: '30 1 * * *', timezone: 'Europe/London', graceMs: H });
    expect(new Date(l.nextSlot(T('2026-10-24T12:00:00Z'))).toISOString()).toBe('2026-10-25T00:30:00.000Z');
    expect(new Date(l.nextSlot(T('2026-10-25T00:30:00Z'))).toISOString()).toBe('2026-10-26T01:30:00.000Z');
    // and in the hour that does not exist (2026-03-29 01:30 London) it runs when the clocks have jumped
    expect(new Date(l.nextSlot(T('2026-03-28T12:00:00Z'))).toISOString()).toBe('2026-03-29T01:00:00.000Z');
  });

  it('America/New_York both ways: 06:00 local is 11:00 UTC in winter, 10:00 UTC in summer', () => {
    const spec = scheduleSpec('0 6 * * *', 'America/New_York', 30 * M);
    const spring = new Drive(spec, T('2026-03-07T11:05:00Z')).event('2026-03-07T11:05:00Z').until(T('2026-03-08T12:00:00Z'));
    expect(spring.iso('quiet')).toEqual(['2026-03-08T10:00:00.000Z']);
    expect(spring.iso('down')).toEqual(['2026-03-08T10:30:00.000Z']);
    const fall = new Drive(spec, T('2026-10-31T10:05:00Z')).event('2026-10-31T10:05:00Z').until(T('2026-11-01T12:00:00Z'));
    expect(fall.iso('quiet')).toEqual(['2026-11-01T11:00:00.000Z']);
    expect(fall.iso('down')).toEqual(['2026-11-01T11:30:00.000Z']);
  });

  it('a restart across a slot: late at once, down one grace after the restart, not for our downtime', () => {
    const spec = weekdays();
    const before = new Drive(spec, T('2026-11-30T05:45:00Z')).event('2026-11-30T05:45:00Z');
    // The service was down from 05:00 to 07:00 on Tuesday: the 05:30 slot and its grace passed unseen.
    const restart = T('2026-12-01T07:00:00Z');
    const d = new Drive(spec, restart);
    d.state = before.state;
    d.restart(restart).until(T('2026-12-01T07:59:00Z'));
    expect(d.iso('quiet')).toEqual(['2026-12-01T07:00:00.000Z']);
    expect(d.iso('down')).toEqual([]);
    d.until(T('2026-12-01T09:00:00Z'));
    expect(d.iso('down')).toEqual(['2026-12-01T08:00:00.000Z']);
    // The same restart, but the file is re-sent after it: ok, nobody paged.
    const e = new Drive(spec, restart);
    e.state = before.state;
    e.restart(restart).event('2026-12-01T07:20:00Z').until(T('2026-12-02T05:00:00Z'));
    expect(e.iso('down')).toEqual([]);
    expect(e.state.status).toBe('ok');
  });

  it('a restart between slots changes nothing: the next slot is still the deadline', () => {
    const spec = weekdays();
    const before = new Drive(spec, T('2026-11-30T05:45:00Z')).event('2026-11-30T05:45:00Z');
    const restart = T('2026-11-30T12:00:00Z');
    const d = new Drive(spec, restart);
    d.state = before.state;
    d.restart(restart).until(T('2026-12-01T07:00:00Z'));
    expect(d.iso('quiet')).toEqual(['2026-12-01T05:30:00.000Z']);
    expect(d.iso('down')).toEqual(['2026-12-01T06:30:00.000Z']);
  });
});

describe('runs: start, success, fail', () => {
  const job = () => ({ name: 'batch', stream: 'batch', match: {}, quietAfterMs: 2 * H, pageAfterMs: 26 * H, labels: {}, maxRuntimeMs: 10 * M }) satisfies CheckSpec;
  const t0 = T('2026-12-01T02:00:00Z');

  it('a run that started and has not succeeded within maxRuntime is down, naming the run', () => {
    const d = new Drive(job(), t0).event('2026-12-01T02:00:00Z').at(t0 + M, { kind: 'run', phase: 'start', at: t0 + M, runId: 'r1' }).until(t0 + H);
    expect(d.iso('down')).toEqual(['2026-12-01T02:11:00.000Z']);
    expect(d.flips.find((f) => f.to === 'down')!.reason).toMatch(/^run r1 started at 2026-12-01T02:01:00.000Z has not succeeded within 10m/);
    // Its success, late, resolves it.
    d.event('2026-12-01T02:30:00Z', 'r1');
    expect(d.state.status).toBe('ok');
    expect(d.state.runs).toBeUndefined();
  });

  it('a run that succeeds in time: never down', () => {
    const d = new Drive(job(), t0).at(t0, { kind: 'run', phase: 'start', at: t0, runId: 'r1' }).event('2026-12-01T02:09:00Z', 'r1').until(t0 + H);
    expect(d.iso('down')).toEqual([]);
  });

  it('fail is down at once with the body as the reason', () => {
    const d = new Drive(job(), t0).event('2026-12-01T02:00:00Z').at(t0 + 5 * M, { kind: 'run', phase: 'fail', at: t0 + 5 * M, runId: 'r7', reason: 'exit 3: no such file settlement-20261201.csv' });
    expect(d.flips.at(-1)).toEqual({ to: 'down', at: t0 + 5 * M, reason: 'run r7 failed: exit 3: no such file settlement-20261201.csv' });
    const page = d.effects.find((e) => e.type === 'alert' && e.kind === 'down');
    expect(page).toBeDefined();
    d.event('2026-12-01T02:20:00Z');
    expect(d.state.status).toBe('ok');
  });

  it('overlapping runs are tracked apart: the one that overruns is down, the one that succeeded is not', () => {
    const d = new Drive(job(), t0)
      .at(t0, { kind: 'run', phase: 'start', at: t0, runId: 'a' })
      .at(t0 + M, { kind: 'run', phase: 'start', at: t0 + M, runId: 'b' })
      .event('2026-12-01T02:05:00Z', 'a')
      .until(t0 + H);
    expect(d.iso('down')).toEqual(['2026-12-01T02:11:00.000Z']);
    expect(d.flips.find((f) => f.to === 'down')!.reason).toMatch(/^run b /);
  });

  it('a success without a run id ends the oldest run', () => {
    const d = new Drive(job(), t0).at(t0, { kind: 'run', phase: 'start', at: t0 }).event('2026-12-01T02:05:00Z').until(t0 + H);
    expect(d.iso('down')).toEqual([]);
  });

  it('runs in flight are bounded (a sender that only ever starts cannot grow the state)', () => {
    const d = new Drive({ ...job(), maxRuntimeMs: 100 * H }, t0);
    for (let i = 0; i < 100; i++) d.at(t0 + i, { kind: 'run', phase: 'start', at: t0 + i, runId: `r${i}` });
    expect(d.state.runs).toHaveLength(20);
    expect(d.state.runs![0]!.id).toBe('r80');
  });
});
