import { describe, expect, it } from 'vitest';
import { initialState, nextDeadline, step } from '../../src/checks/engine.ts';
import type { CheckInput, CheckSpec, CheckState, Effect } from '../../src/checks/types.ts';

const T0 = Date.UTC(2026, 10, 29, 12, 0, 0);
const S = 1000;

const base: CheckSpec = {
  name: 'cards',
  stream: 'auth',
  match: {},
  quietAfterMs: 30 * S,
  pageAfterMs: 120 * S,
  labels: {},
};
const withProbe: CheckSpec = { ...base, probe: { timeoutMs: 20 * S, backoffFactor: 2, backoffMaxMs: 3600 * S } };

let seq = 0;
const ctx = (now: number) => ({ now, newProbeId: () => `p${++seq}` });

/** Run a list of (time, input) through the engine, collecting all effects. */
function run(spec: CheckSpec, steps: Array<[number, CheckInput]>, start: CheckState = initialState(T0)) {
  seq = 0;
  let state = start;
  const effects: Effect[] = [];
  for (const [t, input] of steps) {
    const r = step(spec, state, input, ctx(T0 + t));
    state = r.state;
    effects.push(...r.effects);
  }
  return { state, effects, flips: effects.filter((e) => e.type === 'flip') as Extract<Effect, { type: 'flip' }>[] };
}
const ev = (at: number, time = at): CheckInput => ({ kind: 'event', at: T0 + at, time: T0 + time });
const tick: CheckInput = { kind: 'tick' };

describe('engine: silence deadlines', () => {
  it.each([
    // [description, tick time after the last event at t=0, expected status]
    ['just before quietAfter', 30 * S - 1, 'ok'],
    ['exactly at quietAfter', 30 * S, 'quiet'],
    ['just after quietAfter', 30 * S + 1, 'quiet'],
    ['just before pageAfter', 120 * S - 1, 'quiet'],
    ['exactly at pageAfter', 120 * S, 'down'],
    ['long after pageAfter', 3600 * S, 'down'],
  ])('it is %s -> %s', (_d, t, expected) => {
    const { state } = run(base, [[0, ev(0)], [t, tick]]);
    expect(state.status).toBe(expected);
  });

  it('records flips at the deadline that passed, not when the loop woke', () => {
    const { flips } = run(base, [[0, ev(0)], [500 * S, tick]]);
    expect(flips.map((f) => [f.from, f.to, f.at - T0])).toEqual([
      ['unknown', 'ok', 0],
      ['ok', 'quiet', 30 * S],
      ['quiet', 'down', 120 * S],
    ]);
    expect(flips[2]!.reason).toMatch(/no events: silent 2m/);
  });

  it('pages exactly once and resolves when events return', () => {
    const { effects, state } = run(base, [[0, ev(0)], [200 * S, tick], [300 * S, tick], [310 * S, ev(310 * S)]]);
    const alerts = effects.filter((e) => e.type === 'alert');
    expect(alerts.map((a) => (a as { kind: string }).kind)).toEqual(['warning', 'down', 'recovered']);
    expect(state.status).toBe('ok');
  });

  it('says nothing for unknown -> ok', () => {
    const { effects } = run(base, [[5 * S, ev(5 * S)]]);
    expect(effects.filter((e) => e.type === 'alert')).toEqual([]);
    expect(effects.filter((e) => e.type === 'flip')).toHaveLength(1);
  });

  it('a new check with no events pages after a full pageAfter from creation', () => {
    expect(run(base, [[120 * S - 1, tick]]).state.status).toBe('quiet');
    expect(run(base, [[120 * S, tick]]).state.status).toBe('down');
  });

  it('exposes the next deadline for the scheduler', () => {
    const { state } = run(base, [[0, ev(0)]]);
    expect(nextDeadline(base, state)).toBe(T0 + 30 * S);
    const quiet = run(base, [[0, ev(0)], [31 * S, tick]]).state;
    expect(nextDeadline(base, quiet)).toBe(T0 + 120 * S);
    const down = run(base, [[0, ev(0)], [121 * S, tick]]).state;
    expect(nextDeadline(base, down)).toBeNull();
  });
});

describe('engine: event times', () => {
  it('an event arriving out of order does not move liveness backwards', () => {
    const { state } = run(base, [[10 * S, ev(10 * S)], [11 * S, ev(5 * S)]]);
    expect(state.lastEventAt).toBe(T0 + 10 * S);
    expect(nextDeadline(base, state)).toBe(T0 + 40 * S);
  });

  it('an event whose own timestamp is in the future counts at arrival (lag is kept apart)', () => {
    const { state } = run(base, [[10 * S, ev(10 * S, 3600 * S)]]);
    expect(state.lastEventAt).toBe(T0 + 10 * S);
    expect(state.lastEventTime).toBe(T0 + 3600 * S);
    expect(nextDeadline(base, state)).toBe(T0 + 40 * S);
  });

  it('an arrival stamped after now is clamped to now so it cannot push deadlines out', () => {
    const { state } = run(base, [[10 * S, { kind: 'event', at: T0 + 999 * S, time: T0 }]]);
    expect(state.lastEventAt).toBe(T0 + 10 * S);
  });

  it('an event that arrives after deadlines passed applies those deadlines first, at their times', () => {
    const { flips } = run(base, [[0, ev(0)], [200 * S, ev(200 * S)]]);
    expect(flips.map((f) => [f.to, f.at - T0])).toEqual([
      ['ok', 0],
      ['quiet', 30 * S],
      ['down', 120 * S],
      ['ok', 200 * S],
    ]);
  });
});

describe('engine: pause, resume, restart', () => {
  it('a paused check never goes quiet or down, and resumes in unknown with a fresh window', () => {
    const r = run(base, [[0, ev(0)], [1 * S, { kind: 'pause', by: 'sre' }], [1000 * S, tick]]);
    expect(r.state.status).toBe('paused');
    const r2 = run(base, [[0, ev(0)], [1 * S, { kind: 'pause' }], [1000 * S, { kind: 'resume' }], [1000 * S + 119 * S, tick]], undefined);
    expect(r2.state.status).toBe('quiet');
    expect(r2.effects.filter((e) => e.type === 'alert' && e.kind === 'down')).toEqual([]);
  });

  it('pausing a down check resolves its page', () => {
    const r = run(base, [[0, ev(0)], [200 * S, tick], [210 * S, { kind: 'pause' }]]);
    expect(r.effects.filter((e) => e.type === 'alert').map((e) => (e as { kind: string }).kind)).toEqual(['warning', 'down', 'recovered']);
  });

  it('after a restart an ok check resumes in unknown and pages only a full pageAfter after the restart', () => {
    const before = run(base, [[0, ev(0)]]).state;
    const restartAt = 10_000 * S; // the service was down for hours
    const r = run(base, [[restartAt, { kind: 'restart' }], [restartAt + 119 * S, tick]], before);
    expect(r.state.status).toBe('quiet');
    expect(r.effects.filter((e) => e.type === 'alert' && e.kind === 'down')).toEqual([]);
    const r2 = run(base, [[restartAt, { kind: 'restart' }], [restartAt + 120 * S, tick]], before);
    expect(r2.flips.at(-1)).toMatchObject({ to: 'down', at: T0 + restartAt + 120 * S });
  });

  it('after a restart a down check stays down without a second page', () => {
    const down = run(base, [[0, ev(0)], [200 * S, tick]]).state;
    const r = run(base, [[5000 * S, { kind: 'restart' }], [9000 * S, tick]], down);
    expect(r.state.status).toBe('down');
    expect(r.effects).toEqual([]);
  });
});

describe('engine: probes', () => {
  it('quiet fires exactly one probe; its event proves the pipeline and nobody is paged', () => {
    const r = run(withProbe, [
      [0, ev(0)],
      [30 * S, tick],
      [31 * S, { kind: 'probe-result', probeId: 'p1', result: 'accepted', reference: 'ch_1' }],
      [35 * S, tick],
      [38 * S, { kind: 'event', at: T0 + 38 * S, time: T0 + 37 * S, probeId: 'p1' }],
    ]);
    expect(r.effects.filter((e) => e.type === 'fire-probe')).toHaveLength(1);
    expect(r.effects.find((e) => e.type === 'probe-proven')).toMatchObject({ probeId: 'p1', latencyMs: 8 * S });
    expect(r.state.status).toBe('ok');
    expect(r.effects.filter((e) => e.type === 'alert')).toEqual([]);
  });

  it('a probe accepted but never seen goes down at the probe deadline', () => {
    const r = run(withProbe, [
      [0, ev(0)],
      [30 * S, tick],
      [31 * S, { kind: 'probe-result', probeId: 'p1', result: 'accepted', reference: 'ch_1' }],
      [50 * S, tick],
    ]);
    expect(r.flips.at(-1)).toMatchObject({ to: 'down', at: T0 + 50 * S });
    expect(r.flips.at(-1)!.reason).toMatch(/probe p1 lost: charge accepted \(ref ch_1\)/);
  });

  it('while a probe is in flight the page deadline waits for it', () => {
    const spec = { ...withProbe, pageAfterMs: 40 * S };
    const r = run(spec, [[0, ev(0)], [30 * S, tick], [30 * S, { kind: 'probe-result', probeId: 'p1', result: 'accepted' }], [45 * S, tick]]);
    expect(r.state.status).toBe('quiet');
    const r2 = run(spec, [[0, ev(0)], [30 * S, tick], [30 * S, { kind: 'probe-result', probeId: 'p1', result: 'accepted' }], [46 * S, { kind: 'event', at: T0 + 46 * S, time: T0 + 46 * S, probeId: 'p1' }]]);
    expect(r2.state.status).toBe('ok');
  });

  it('a declined probe warns the team and does not page by itself', () => {
    const r = run(withProbe, [[0, ev(0)], [30 * S, tick], [31 * S, { kind: 'probe-result', probeId: 'p1', result: 'refused', message: 'card_declined' }], [100 * S, tick]]);
    const alerts = r.effects.filter((e) => e.type === 'alert') as Extract<Effect, { type: 'alert' }>[];
    expect(alerts.map((a) => [a.kind, a.warning])).toEqual([['warning', 'probe-refused']]);
    expect(r.state.status).toBe('quiet');
    // ...the silence limit still pages if nothing at all arrives.
    expect(run(withProbe, [[0, ev(0)], [30 * S, tick], [31 * S, { kind: 'probe-result', probeId: 'p1', result: 'refused' }], [120 * S, tick]]).state.status).toBe('down');
  });

  it('a budget stop warns and falls back to the silence limit, at the moment the probe failed', () => {
    const spec = { ...withProbe, pageAfterMs: 40 * S };
    const r = run(spec, [[0, ev(0)], [30 * S, tick], [60 * S, { kind: 'probe-result', probeId: 'p1', result: 'budget' }]]);
    expect(r.flips.at(-1)).toMatchObject({ to: 'down', at: T0 + 60 * S });
  });

  it('never fires a second probe while one is in flight', () => {
    const r = run(withProbe, [[0, ev(0)], [30 * S, tick], [31 * S, { kind: 'probe-request', reason: 'manual' }], [32 * S, { kind: 'probe-request', reason: 'schedule' }]]);
    expect(r.effects.filter((e) => e.type === 'fire-probe')).toHaveLength(1);
  });

  it('a quiet night of 6 hours costs at most log2(cap/quietAfter) + 1 + 6h/cap probes, and real traffic resets the backoff', () => {
    const spec: CheckSpec = { ...withProbe, probe: { timeoutMs: 20 * S, backoffFactor: 2, backoffMaxMs: 3600 * S } };
    let state = step(spec, initialState(T0), ev(0), ctx(T0)).state;
    let fired = 0;
    seq = 0;
    // Virtual time: jump from deadline to deadline; every probe is proven 5 s after it fires.
    let now = T0;
    const end = T0 + 6 * 3600 * S;
    while (now < end) {
      const d = nextDeadline(spec, state)!;
      now = d;
      const r = step(spec, state, tick, ctx(now));
      state = r.state;
      for (const e of r.effects) {
        if (e.type === 'fire-probe') {
          fired++;
          state = step(spec, state, { kind: 'probe-result', probeId: e.probeId, result: 'accepted' }, ctx(now)).state;
          state = step(spec, state, { kind: 'event', at: now + 5 * S, time: now + 5 * S, probeId: e.probeId }, ctx(now + 5 * S)).state;
          now += 5 * S;
        }
      }
      expect(state.status).not.toBe('down');
    }
    // 30s,1m,2m,4m,8m,16m,32m,64m(capped to 60m) then hourly: 8 + 5 = 13 at most.
    const bound = Math.ceil(Math.log2(3600 / 30)) + 1 + 6;
    expect(fired).toBeLessThanOrEqual(bound);
    expect(fired).toBeGreaterThanOrEqual(8);
    state = step(spec, state, ev(now - T0 + 1), ctx(now + 1)).state;
    expect(state.quietStreak).toBe(0);
  });
});

describe('engine: flap control', () => {
  const spec: CheckSpec = { ...base, quietAfterMs: 10 * S, pageAfterMs: 20 * S, flap: { maxFlips: 2, windowMs: 3600 * S, stableForMs: 300 * S } };
  it('a check that flips down/ok more than N times in the window is held down as one incident until stable', () => {
    const steps: Array<[number, CheckInput]> = [[0, ev(0)]];
    let t = 0;
    for (let i = 0; i < 4; i++) {
      t += 30 * S;
      steps.push([t, tick]); // down
      t += 1 * S;
      steps.push([t, ev(t)]); // back
    }
    const r = run(spec, steps);
    const downs = r.effects.filter((e) => e.type === 'alert' && e.kind === 'down').length;
    const recovered = r.effects.filter((e) => e.type === 'alert' && e.kind === 'recovered').length;
    expect(downs).toBe(3);
    expect(recovered).toBe(2);
    expect(r.state).toMatchObject({ status: 'down', held: true });
    // Keep events flowing every 5 s for 5 minutes: released to ok at heldUntil.
    let st = r.state;
    for (let k = 1; k <= 61; k++) st = step(spec, st, ev(t + k * 5 * S), ctx(T0 + t + k * 5 * S)).state;
    expect(st.status).toBe('ok');
    expect(st.held).toBe(false);
  });
});

describe('engine: rate drop', () => {
  it('without a probe, a drop pages; a trickle of events does not resolve it; a normal window does', () => {
    const r = run(base, [
      [0, ev(0)],
      [10 * S, { kind: 'rate', verdict: 'drop', reason: 'rate drop: 3 events in 5m, normal 300' }],
      [15 * S, ev(15 * S)],
    ]);
    expect(r.state.status).toBe('down');
    expect(r.flips.at(-1)).toMatchObject({ to: 'down', at: T0 + 10 * S, reason: 'rate drop: 3 events in 5m, normal 300' });
    const r2 = run(base, [
      [0, ev(0)],
      [10 * S, { kind: 'rate', verdict: 'drop', reason: 'drop' }],
      [15 * S, ev(15 * S)],
      [20 * S, { kind: 'rate', verdict: 'normal', reason: 'rate back to normal' }],
    ]);
    expect(r2.state.status).toBe('ok');
    expect(r2.effects.filter((e) => e.type === 'alert').map((e) => (e as { kind: string }).kind)).toEqual(['down', 'recovered']);
  });

  it('with a probe, a drop fires a probe and the probe decides', () => {
    const r = run(withProbe, [[0, ev(0)], [10 * S, { kind: 'rate', verdict: 'drop', reason: 'drop' }]]);
    expect(r.effects.find((e) => e.type === 'fire-probe')).toMatchObject({ reason: 'rate-drop' });
    expect(r.state.status).toBe('ok');
  });
});

describe('engine: learned limits and probes', () => {
  const learned: CheckSpec = {
    ...withProbe,
    limits: {
      deadline: (since, which) => since + (which === 'quiet' ? 10 * S : 40 * S),
      describe: () => ({ quietAfterMs: 10 * S, pageAfterMs: 40 * S, expectedGapMs: 800, source: 'learned' }),
    },
    probe: { timeoutMs: 60 * S, backoffFactor: 2, backoffMaxMs: 3600 * S },
  };
  it('pages at the learned page deadline even while a probe is in flight, and says what is normal', () => {
    const r = run(learned, [[0, ev(0)], [10 * S, tick], [11 * S, { kind: 'probe-result', probeId: 'p1', result: 'accepted' }], [40 * S, tick]]);
    expect(r.flips.at(-1)).toMatchObject({ to: 'down', at: T0 + 40 * S });
    expect(r.flips.at(-1)!.reason).toBe('no events: silent 40s; normal at this hour: 1 event every 800ms');
  });
});

describe('engine: probes across pause, restart, rate drop and duplicates (review findings)', () => {
  it('a rate-drop probe that is lost pages even though a trickle keeps the check ok', () => {
    const r = run(withProbe, [
      [0, ev(0)],
      [10 * S, { kind: 'rate', verdict: 'drop', reason: 'drop' }],
      [11 * S, { kind: 'probe-result', probeId: 'p1', result: 'accepted' }],
      [15 * S, ev(15 * S)],
      [30 * S, tick],
    ]);
    expect(r.flips.at(-1)).toMatchObject({ from: 'ok', to: 'down', at: T0 + 30 * S });
    expect(r.effects.filter((e) => e.type === 'alert' && e.kind === 'down')).toHaveLength(1);
  });

  it('a restart forgets the probe in flight, settles it, and pages only a full pageAfter after the restart', () => {
    const before = run(withProbe, [[0, ev(0)], [30 * S, tick], [31 * S, { kind: 'probe-result', probeId: 'p1', result: 'accepted' }]]).state;
    expect(before.probe?.id).toBe('p1');
    const r = run(withProbe, [[40 * S, { kind: 'restart' }], [40 * S + 119 * S, tick]], before);
    expect(r.effects.find((e) => e.type === 'probe-lost')).toMatchObject({ probeId: 'p1', accepted: true, why: 'restart' });
    expect(r.effects.filter((e) => e.type === 'alert' && e.kind === 'down')).toEqual([]);
    expect(r.state.quietStreak).toBe(0);
  });

  it('pausing settles the probe in flight and records the real "from" state', () => {
    const r = run(withProbe, [[0, ev(0)], [30 * S, tick], [31 * S, { kind: 'pause' }]]);
    expect(r.effects.find((e) => e.type === 'probe-lost')).toMatchObject({ probeId: 'p1', why: 'pause' });
    expect(r.flips.at(-1)).toMatchObject({ from: 'quiet', to: 'paused' });
    const late = run(base, [[0, ev(0)], [31 * S, { kind: 'pause' }]]);
    expect(late.flips.map((f) => [f.from, f.to])).toEqual([['unknown', 'ok'], ['ok', 'quiet'], ['quiet', 'paused']]);
  });

  it('a probe that expires before the acquirer accepted it warns (probe-error) and settles', () => {
    const r = run(withProbe, [[0, ev(0)], [30 * S, tick], [50 * S, tick]]);
    expect(r.effects.find((e) => e.type === 'probe-lost')).toMatchObject({ accepted: false, why: 'deadline' });
    expect(r.effects.filter((e) => e.type === 'alert').map((e) => (e as { warning?: string }).warning)).toEqual(['probe-error']);
  });

  it('duplicate copies of a probe transaction extend the backoff once', () => {
    const dup = (t: number): CheckInput => ({ kind: 'event', at: T0 + t, time: T0 + t, probeId: 'p1' });
    const r = run(withProbe, [[0, ev(0)], [30 * S, tick], [31 * S, { kind: 'probe-result', probeId: 'p1', result: 'accepted' }], [33 * S, dup(33 * S)], [34 * S, dup(34 * S)], [35 * S, dup(35 * S)]]);
    expect(r.state.quietStreak).toBe(1);
    expect(r.effects.filter((e) => e.type === 'probe-proven').map((e) => (e as { latencyMs: number }).latencyMs)).toEqual([3 * S, -1, -1]);
  });
});

describe('engine: probe.learnTimeout (the wait learned from the pipeline\'s own proofs)', () => {
  const learning: CheckSpec = { ...base, probe: { timeoutMs: 60 * S, backoffFactor: 2, backoffMaxMs: 3600 * S, learnTimeout: { factor: 3, minMs: 10 * S, proofs: 5 } } };
  /** Quiet spells, each proven after its latency (a real event between them resets the backoff); then one more probe. */
  function spells(spec: CheckSpec, latencies: number[]) {
    seq = 0;
    let state = initialState(T0);
    const effects: Effect[] = [];
    const feed = (t: number, input: CheckInput) => {
      const r = step(spec, state, input, ctx(T0 + t));
      state = r.state;
      effects.push(...r.effects);
    };
    let t = 0;
    feed(t, ev(t));
    for (const [i, lat] of latencies.entries()) {
      t += 30 * S;
      feed(t, tick); // quiet: probe p{i+1} fires
      feed(t, { kind: 'probe-result', probeId: `p${i + 1}`, result: 'accepted' });
      feed(t + lat, { kind: 'event', at: T0 + t + lat, time: T0 + t + lat, probeId: `p${i + 1}` });
      t += lat + S;
      feed(t, ev(t));
    }
    t += 30 * S;
    feed(t, tick); // the next probe fires
    const fired = effects.filter((e) => e.type === 'fire-probe').at(-1) as Extract<Effect, { type: 'fire-probe' }>;
    return { state, effects, fired, t, feed, get: () => state };
  }

  it('waits probe.timeout until `proofs` probes were proven, then factor x the slowest of them', () => {
    const few = spells(learning, [4 * S, 6 * S, 5 * S, 3 * S]);
    expect(few.fired.deadline - few.fired.at).toBe(60 * S);
    const r = spells(learning, [4 * S, 6 * S, 5 * S, 3 * S, 7 * S]);
    expect(r.state.proofLatencies).toEqual([4 * S, 6 * S, 5 * S, 3 * S, 7 * S]);
    expect(r.fired.deadline - r.fired.at).toBe(21 * S);
    // Lost at the learned wait: the page says how long it waited and why that long.
    r.feed(r.t, { kind: 'probe-result', probeId: r.fired.probeId, result: 'accepted', reference: 'ch_9' });
    r.feed(r.t + 21 * S, tick);
    const flip = r.effects.filter((e) => e.type === 'flip').at(-1) as Extract<Effect, { type: 'flip' }>;
    expect(flip).toMatchObject({ to: 'down', at: T0 + r.t + 21 * S });
    expect(flip.reason).toMatch(/no event within 21s \(learned: 3 x the slowest of the last 5 proofs\)/);
  });

  it('keeps the last `proofs` latencies only; never waits less than min nor more than probe.timeout', () => {
    const fast = spells(learning, [1 * S, 1 * S, 1 * S, 1 * S, 1 * S, 2 * S]);
    expect(fast.state.proofLatencies).toHaveLength(5);
    expect(fast.fired.deadline - fast.fired.at).toBe(10 * S); // 3 x 2 s = 6 s < min
    const slow = spells(learning, [30 * S, 30 * S, 30 * S, 30 * S, 30 * S]);
    expect(slow.fired.deadline - slow.fired.at).toBe(60 * S); // 90 s > timeout
  });

  it('a late copy of a probe lost at a learned wait resolves the page and lengthens the next wait', () => {
    const r = spells(learning, [4 * S, 4 * S, 4 * S, 4 * S, 4 * S]);
    expect(r.fired.deadline - r.fired.at).toBe(12 * S);
    r.feed(r.t, { kind: 'probe-result', probeId: r.fired.probeId, result: 'accepted' });
    r.feed(r.t + 12 * S, tick);
    expect(r.get().status).toBe('down');
    // The pipeline was only slow: its transaction comes out 19 s after the charge.
    r.feed(r.t + 19 * S, { kind: 'event', at: T0 + r.t + 19 * S, time: T0 + r.t + 19 * S, probeId: r.fired.probeId });
    expect(r.get().status).toBe('ok');
    expect(r.get().proofLatencies!.at(-1)).toBe(19 * S);
    r.feed(r.t + 60 * S, tick); // quiet again: the next probe waits for 3 x 19 s
    const next = r.effects.filter((e) => e.type === 'fire-probe').at(-1) as Extract<Effect, { type: 'fire-probe' }>;
    expect(next.probeId).not.toBe(r.fired.probeId);
    expect(next.deadline - next.at).toBe(57 * S);
  });

  it('without learnTimeout nothing is recorded and every probe waits probe.timeout', () => {
    const plain: CheckSpec = { ...learning, probe: { ...learning.probe!, learnTimeout: undefined } };
    const r = spells(plain, [4 * S, 4 * S, 4 * S, 4 * S, 4 * S, 4 * S]);
    expect(r.state.proofLatencies).toBeUndefined();
    expect(r.fired.deadline - r.fired.at).toBe(60 * S);
  });
});

describe('engine: a probe lost while a trickle flows', () => {
  // A limit model as learned limits are (quiet 30 s, page 120 s), whose trafficDrop says what it is told.
  const model = (drop: string | undefined) => ({
    deadline: (since: number, which: 'quiet' | 'page') => since + (which === 'quiet' ? 30 * S : 120 * S),
    describe: () => ({ quietAfterMs: 30 * S, pageAfterMs: 120 * S, source: 'learned' as const }),
    trafficDrop: (from: number, at: number) => (from === T0 + 30 * S && at === T0 + 50 * S ? drop : undefined),
  });
  const lostWhileTrickling = (limits: CheckSpec['limits']) =>
    run({ ...withProbe, limits }, [
      [0, ev(0)],
      [30 * S, tick], // quiet: p1 fires, waits 20 s
      [30 * S, { kind: 'probe-result', probeId: 'p1', result: 'accepted', reference: 'ch_1' }],
      [36 * S, ev(36 * S)], // one stray event: ok again
      [50 * S, tick], // p1's deadline
    ]);

  it('traffic far below normal since it fired: the lost probe pages, saying so', () => {
    const r = lostWhileTrickling(model('1 event in 20s where 10 are normal'));
    expect(r.flips.map((f) => [f.to, f.at - T0])).toEqual([['ok', 0], ['quiet', 30 * S], ['ok', 36 * S], ['down', 50 * S]]);
    expect(r.flips.at(-1)!.reason).toMatch(/probe p1 lost: charge accepted \(ref ch_1\), no event within 20s; traffic far below normal since it fired: 1 event in 20s where 10 are normal/);
  });

  it('normal traffic (or a model that cannot tell): a warning that the probe was lost, no page', () => {
    for (const limits of [model(undefined), { ...model(undefined), trafficDrop: undefined }]) {
      const r = lostWhileTrickling(limits);
      expect(r.state.status).toBe('ok');
      expect(r.effects.filter((e) => e.type === 'alert').map((e) => (e as Extract<Effect, { type: 'alert' }>).warning)).toEqual(['probe-lost']);
    }
  });
});
