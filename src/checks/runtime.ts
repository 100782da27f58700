/**
 * The imperative shell around the pure engine. It routes events to the checks of their stream,
 * persists state and flips (one transaction per batch, before the batch is acknowledged), carries
 * out effects through an EffectHandler, and wakes on the earliest deadline with ONE timer over a
 * min-heap (lazy deletion by version) — never a timer per check, never a scan per tick.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { systemTimers, type Clock, type Timers } from '../lib/clock.ts';
import { MinHeap } from '../lib/heap.ts';
import type { Logger } from '../lib/logger.ts';
import type { Store } from '../store/types.ts';
import { initialState, limitsAt, nextDeadline, probeWait, silenceDeadline, step } from './engine.ts';
import type { CheckInput, CheckSpec, CheckState, Effect, Flip, LimitDescription, ProbeReason } from './types.ts';

import type { AttrValue, IngestEvent } from '../ingest/types.ts';
export type { AttrValue, IngestEvent } from '../ingest/types.ts';

/** How a check recognises its probe's synthetic transaction among the stream's events. */
export type Correlate = (attributes: Record<string, AttrValue>, state: CheckState) => string | undefined;

export interface RuntimeCheck {
  spec: CheckSpec;
  correlate?: Correlate;
  /** Told the arrival time of every real (not synthetic) matching event: learned limits learn here. */
  observe?: (at: number) => void;
}

export interface EffectHandler {
  (effect: Effect, check: CheckSpec, state: CheckState): void | Promise<void>;
}

export interface CheckSnapshot {
  name: string;
  stream: string;
  match: Record<string, string[]>;
  labels: Record<string, string>;
  status: CheckState['status'];
  since: number;
  lastEventAt: number | null;
  lastEventTime: number | null;
  /** When a probe last proved the pipeline. */
  lastProofAt: number | null;
  lagMs: number | null;
  silenceMs: number;
  deadlines: { quietAt: number | null; pageAt: number | null; probeDeadline: number | null; next: number | null };
  limits: LimitDescription;
  probe: CheckState['probe'];
  /** Checks with a probe: how long a probe fired now would wait (probe.learnTimeout), from how many proofs. */
  probeWait?: { ms: number; source: 'learned' | 'configured'; proofs: number };
  held: boolean;
}

/** Read a dotted path (`probe_id`, `meta.probe.id`) from event attributes. */
export function attributePath(attrs: Record<string, AttrValue>, path: string): AttrValue | undefined {
  if (path in attrs) return attrs[path];
  let cur: AttrValue | undefined = attrs;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, AttrValue>)[part];
  }
  return cur;
}

export function matches(match: Record<string, string[]>, attrs: Record<string, AttrValue>): boolean {
  for (const key in match) {
    const v = attributePath(attrs, key);
    if (v === undefined || v === null || typeof v === 'object') return false;
    if (!match[key]!.includes(String(v))) return false;
  }
  return true;
}

interface Entry {
  spec: CheckSpec;
  correlate?: Correlate;
  observe?: (at: number) => void;
  state: CheckState;
  /** Bumped on every state change; heap entries with an older version are stale. */
  version: number;
  /** Its state came from the store (saved by this process before, or by the leader): it may have stored flips. */
  restored?: true;
}

export interface RuntimeOptions {
  checks: RuntimeCheck[];
  store: Store;
  clock: Clock;
  /** The one timer source (default: the system's, which vitest's fake timers replace). */
  timers?: Timers;
  logger: Logger;
  onEffect: EffectHandler;
  newProbeId?: () => string;
  /** Recognises any synthetic (probe) transaction, whichever check sent it: those never teach learned limits. */
  isSynthetic?: (attributes: Record<string, AttrValue>) => boolean;
}

/** Flips in one batch logged one line each; more (a storm) are logged one line per transition. */
export const FLIP_LOG_LIMIT = 20;

/** Checks handled per slice of a wake-up (and per start-up transaction). */
const WAKE_SLICE = 1000;

export class CheckRuntime extends EventEmitter {
  private readonly entries = new Map<string, Entry>();
  /** A stream's checks: the entry itself while it is the only one (an array of one was 56 bytes a stream). */
  private readonly byStream = new Map<string, Entry | Entry[]>();
  /** Due checks: the entry, tagged with its version when pushed (no object per item: 100,000 checks). */
  private readonly heap = new MinHeap<Entry>();
  private timer: unknown = null;
  private timerAt = Infinity;
  private started = false;
  /** A follower took the saved states (adopt). */
  private adopted = false;
  /** A wake-up is working through due checks (slices yield; the timer must not start a second one). */
  private waking = false;
  private readonly newProbeId: () => string;
  private readonly timers: Timers;
  /** Persistence is serialised so a later commit never overtakes an earlier one. */
  private commitChain: Promise<void> = Promise.resolve();
  private writeFailure: { since: number; message: string } | undefined;
  /** What deadlines changed while the store failed: written again by retryWrites. */
  private unsaved: { entries: Set<Entry>; flips: Flip[] } | undefined;

  /** The options without the check list (100,000 checks are held once, in `entries`). */
  private readonly opts: Omit<RuntimeOptions, 'checks'>;

  constructor(options: RuntimeOptions) {
    super();
    const { checks, ...opts } = options;
    this.opts = opts;
    this.newProbeId = opts.newProbeId ?? (() => `pr_${randomUUID()}`);
    this.timers = opts.timers ?? systemTimers;
    const now = opts.clock.now();
    for (const c of checks) {
      const e: Entry = { spec: c.spec, correlate: c.correlate, observe: c.observe, state: initialState(now), version: 0 };
      this.entries.set(c.spec.name, e);
      const got = this.byStream.get(c.spec.stream);
      if (got === undefined) this.byStream.set(c.spec.stream, e);
      else if (Array.isArray(got)) got.push(e);
      else this.byStream.set(c.spec.stream, [got, e]);
    }
  }

  /** Load saved state, apply the restart rule to every check, and arm the timer. */
  async start(opts: { resume?: (check: string) => boolean } = {}): Promise<void> {
    if (opts.resume) return this.#resume(opts.resume);
    const saved = await this.opts.store.loadCheckStates();
    const now = this.opts.clock.now();
    // Only restarted checks changed: a check never saved starts from its initial state, which is
    // what the restart rule would give it again (100,000 new checks start without writing 100,000 rows).
    const dirty: Entry[] = [];
    const effects: Array<[Entry, Effect]> = [];
    for (const e of this.entries.values()) {
      const prev = saved.get(e.spec.name);
      if (!prev) continue;
      e.restored = true;
      const r = step(e.spec, { ...initialState(now), ...prev }, { kind: 'restart' }, this.ctx(now));
      e.state = r.state;
      for (const ef of r.effects) effects.push([e, ef]);
      dirty.push(e);
    }
    saved.clear();
    for (let i = 0; i < dirty.length; i += WAKE_SLICE) {
      const slice = dirty.slice(i, i + WAKE_SLICE);
      const set = new Set(slice);
      await this.persist(slice, effects.filter(([e]) => set.has(e)));
    }
    this.started = true;
    for (const e of this.entries.values()) this.schedule(e);
    this.dispatch(effects);
    this.emit('ready');
  }

  /**
   * A takeover by another replica (PostgreSQL): the states adopted from the store, and the events
   * relayed meanwhile, are the truth — a resumed check's silence runs from its last real event. The
   * others (`resume` false) take the restart rule on their adopted state.
   */
  async #resume(resume: (check: string) => boolean): Promise<void> {
    const now = this.opts.clock.now();
    const dirty: Entry[] = [];
    const effects: Array<[Entry, Effect]> = [];
    for (const e of this.entries.values()) {
      if (resume(e.spec.name)) continue;
      const r = step(e.spec, e.state, { kind: 'restart' }, this.ctx(now));
      e.state = r.state;
      for (const ef of r.effects) effects.push([e, ef]);
      dirty.push(e);
    }
    if (dirty.length) await this.persist(dirty, effects);
    this.started = true;
    for (const e of this.entries.values()) this.schedule(e);
    this.dispatch(effects);
    this.emit('ready');
  }

  /**
   * A follower replica's view (PostgreSQL): take the states the leader saved, as they are — no step,
   * no effect, no timer. Ignored once this runtime has started (it leads, and its states are its own).
   */
  adopt(saved: ReadonlyMap<string, CheckState>): void {
    if (this.started) return;
    for (const e of this.entries.values()) {
      const st = saved.get(e.spec.name);
      if (st) {
        e.state = st;
        e.restored = true;
      }
    }
    this.adopted = true;
    this.emit('ready');
  }

  /**
   * The states are known (`start`, or a follower's `adopt`): `'ready'` has been emitted. Before that
   * every check is in its initial state.
   */
  get ready(): boolean {
    return this.started || this.adopted;
  }

  /** Whether a check's state came from the store: a check never stored has no stored flips either. */
  restored(name: string): boolean {
    return this.entries.get(name)?.restored === true;
  }

  stop(): void {
    this.started = false;
    if (this.timer) this.timers.clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }

  /** Wait until everything accepted so far is on disk. */
  flushed(): Promise<void> {
    return this.commitChain;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /** Every check's spec, in config order. */
  specs(): CheckSpec[] {
    return Array.from(this.entries.values(), (e) => e.spec);
  }

  /**
   * Every check's spec and its state as it is when read (live views, not copies): for reports that
   * visit all 100,000 checks every few seconds without a lookup per check.
   */
  views(): ReadonlyArray<{ readonly spec: CheckSpec; readonly state: CheckState }> {
    return Array.from(this.entries.values());
  }

  spec(name: string): CheckSpec | undefined {
    return this.entries.get(name)?.spec;
  }

  state(name: string): CheckState | undefined {
    return this.entries.get(name)?.state;
  }

  /** The checks listening to a stream (empty when none): O(checks of that stream), never O(all checks). */
  specsFor(stream: string): CheckSpec[] {
    return this.streamEntries(stream)?.map((e) => e.spec) ?? [];
  }

  private streamEntries(stream: string): readonly Entry[] | undefined {
    const got = this.byStream.get(stream);
    return got === undefined || Array.isArray(got) ? got : [got];
  }

  /** Streams some check listens to (ingest counts the rest as unrouted). */
  hasStream(stream: string): boolean {
    return this.byStream.has(stream);
  }

  /**
   * Route a batch of events to their checks. Resolves once the resulting states and flips are
   * stored: the caller acknowledges the batch only after that. Returns how many check updates it made.
   */
  async ingest(events: readonly IngestEvent[]): Promise<number> {
    const now = this.opts.clock.now();
    /** Each touched check's state before this batch, to roll back if the batch cannot be stored. */
    const before = new Map<Entry, CheckState>();
    const effects: Array<[Entry, Effect]> = [];
    const learned: Array<[Entry, number]> = [];
    let updates = 0;
    for (const ev of events) {
      const list = ev.check !== undefined ? this.addressed(ev) : this.streamEntries(ev.stream);
      if (!list) continue;
      let synthetic: boolean | undefined; // computed once per event, only if a learning check needs it
      for (const e of list) {
        if (ev.check === undefined && !matches(e.spec.match, ev.attributes)) continue;
        if (ev.run && ev.run.state !== 'success') {
          if (!before.has(e)) before.set(e, e.state);
          this.apply(e, { kind: 'run', phase: ev.run.state, at: ev.arrivedAt, ...(ev.run.id !== undefined ? { runId: ev.run.id } : {}), ...(ev.run.reason !== undefined ? { reason: ev.run.reason } : {}) }, now, effects);
          updates++;
          continue;
        }
        const probeId = e.correlate?.(ev.attributes, e.state);
        if (e.observe && probeId === undefined) {
          synthetic ??= this.opts.isSynthetic?.(ev.attributes) ?? false;
          if (!synthetic) learned.push([e, Math.min(ev.arrivedAt, now)]);
        }
        const input: CheckInput = { kind: 'event', at: ev.arrivedAt, time: ev.time, ...(probeId !== undefined ? { probeId } : {}), ...(ev.run?.id !== undefined ? { runId: ev.run.id } : {}) };
        if (!before.has(e)) before.set(e, e.state);
        this.apply(e, input, now, effects);
        updates++;
      }
    }
    if (before.size === 0) return 0;
    const touched = [...before.keys()];
    try {
      await this.persist(touched, effects);
    } catch (err) {
      // Nothing of this batch is accepted: put the states back and keep every check's timer armed.
      for (const [e, st] of before) {
        e.state = st;
        e.version++;
        this.schedule(e);
      }
      throw err;
    }
    // Learned limits learn only from batches that were stored.
    for (const [e, at] of learned) e.observe!(at);
    for (const e of touched) this.schedule(e);
    this.dispatch(effects);
    this.emit('events', touched.map((e) => e.spec.name));
    return updates;
  }

  /** Feed one non-event input (pause, resume, probe-request, probe-result) to a check. */
  async input(name: string, input: CheckInput): Promise<CheckState> {
    const e = this.entries.get(name);
    if (!e) throw new Error(`no check named ${name}`);
    const effects: Array<[Entry, Effect]> = [];
    const prev = e.state;
    this.apply(e, input, this.opts.clock.now(), effects);
    try {
      await this.persist([e], effects);
    } catch (err) {
      e.state = prev;
      e.version++;
      this.schedule(e);
      throw err;
    }
    this.schedule(e);
    this.dispatch(effects);
    this.emit('events', [name]);
    return e.state;
  }

  pause(name: string, by?: string) {
    return this.input(name, { kind: 'pause', by });
  }
  resume(name: string, by?: string) {
    return this.input(name, { kind: 'resume', by });
  }
  requestProbe(name: string, reason: ProbeReason) {
    return this.input(name, { kind: 'probe-request', reason });
  }

  snapshot(name: string): CheckSnapshot | undefined {
    const e = this.entries.get(name);
    if (!e) return undefined;
    const now = this.opts.clock.now();
    const { spec, state: s } = e;
    const active = s.status !== 'paused';
    const quietAt = active && (s.status === 'ok' || s.status === 'unknown') ? silenceDeadline(spec, s, 'quiet') : null;
    // Same rule as the engine: a probe in flight holds the page only with fixed limits.
    const pageAt = active && s.status !== 'down' && (!s.probe || spec.limits) ? silenceDeadline(spec, s, 'page') : null;
    return {
      name: spec.name,
      stream: spec.stream,
      match: spec.match,
      labels: spec.labels,
      status: s.status,
      since: s.since,
      lastEventAt: s.lastEventAt,
      lastEventTime: s.lastEventTime,
      lastProofAt: s.lastProofAt,
      lagMs: s.lastEventAt !== null && s.lastEventTime !== null ? s.lastEventAt - s.lastEventTime : null,
      silenceMs: now - s.watchFrom,
      deadlines: { quietAt, pageAt, probeDeadline: s.probe?.deadline ?? null, next: nextDeadline(spec, s) },
      limits: limitsAt(spec, now),
      probe: s.probe,
      ...(spec.probe ? { probeWait: probeWait(spec, s) } : {}),
      held: s.held,
    };
  }

  snapshots(): CheckSnapshot[] {
    return this.names().map((n) => this.snapshot(n)!);
  }

  // --- internals ---------------------------------------------------------------------------

  /** An event addressed to one check: that check alone (an InfluxDB-fed point carries no attributes to match). */
  private addressed(ev: IngestEvent): Entry[] | undefined {
    const e = this.entries.get(ev.check!);
    return e ? [e] : undefined;
  }

  private ctx(now: number) {
    return { now, newProbeId: this.newProbeId };
  }

  private apply(e: Entry, input: CheckInput, now: number, effects: Array<[Entry, Effect]>): void {
    const r = step(e.spec, e.state, input, this.ctx(now));
    e.state = r.state;
    e.version++;
    for (const ef of r.effects) effects.push([e, ef]);
  }

  private persist(entries: Entry[], effects: Array<[Entry, Effect]>): Promise<void> {
    const flips: Flip[] = [];
    for (const [, ef] of effects) if (ef.type === 'flip') flips.push({ check: ef.check, from: ef.from, to: ef.to, at: ef.at, reason: ef.reason });
    const states = entries.map((e) => [e.spec.name, e.state] as [string, CheckState]);
    const p = this.commitChain.then(() => this.opts.store.commit(states, flips));
    this.commitChain = p.then(
      () => void (this.writeFailure = undefined),
      (err) => {
        this.writeFailure ??= { since: this.opts.clock.now(), message: err instanceof Error ? err.message : String(err) };
        this.opts.logger.error({ err }, 'failed to persist check state');
      },
    );
    return p;
  }

  /**
   * Write again what a deadline changed while the store failed (the states as they are now, the
   * flips as they happened); with nothing kept, re-save one check's state to learn whether writes
   * work again. Resolves true when the store took it. The store watch calls this while failing.
   */
  async retryWrites(): Promise<boolean> {
    if (!this.writeFailure) return true;
    const kept = this.unsaved;
    const entries = kept ? [...kept.entries] : [this.entries.values().next().value].filter((e): e is Entry => e !== undefined);
    const flips = kept?.flips ?? [];
    const states = entries.map((e) => [e.spec.name, e.state] as [string, CheckState]);
    const p = this.commitChain.then(() => this.opts.store.commit(states, flips));
    this.commitChain = p.then(
      () => {
        if (this.unsaved === kept) this.unsaved = undefined;
        this.writeFailure = undefined;
        if (kept) this.opts.logger.warn({ checks: entries.length, flips: flips.length }, 'the store takes writes again: states and flips kept in memory are stored');
      },
      () => undefined,
    );
    return p.then(
      () => true,
      () => false,
    );
  }

  private keepUnsaved(entries: Entry[], effects: Array<[Entry, Effect]>): void {
    const u = (this.unsaved ??= { entries: new Set(), flips: [] });
    for (const e of entries) u.entries.add(e);
    for (const [, ef] of effects) if (ef.type === 'flip') u.flips.push({ check: ef.check, from: ef.from, to: ef.to, at: ef.at, reason: ef.reason });
  }

  /** Since when writing check states fails (a full disk, a lost database), until a write succeeds again. */
  storeWriteFailure(): { since: number; message: string } | undefined {
    return this.writeFailure;
  }

  private dispatch(effects: Array<[Entry, Effect]>): void {
    this.logFlips(effects);
    for (const [e, ef] of effects) {
      if (ef.type === 'flip') this.emit('flip', ef);
      try {
        const r = this.opts.onEffect(ef, e.spec, e.state);
        if (r && typeof (r as Promise<void>).catch === 'function') {
          (r as Promise<void>).catch((err) => this.opts.logger.error({ err, check: e.spec.name, effect: ef.type }, 'effect handler failed'));
        }
      } catch (err) {
        this.opts.logger.error({ err, check: e.spec.name, effect: ef.type }, 'effect handler failed');
      }
    }
  }

  /**
   * One line per flip — unless a batch flips more than FLIP_LOG_LIMIT checks (a storm): then one
   * line per transition (`1,000 checks: quiet -> down`, naming them, with the first and last
   * deadline) and each flip at debug. A storm's per-check lines cost more than the alerting itself.
   */
  private logFlips(effects: Array<[Entry, Effect]>): void {
    const log = this.opts.logger;
    let n = 0;
    for (const [, ef] of effects) if (ef.type === 'flip') n++;
    if (n === 0) return;
    const line = (ef: Effect & { type: 'flip' }) => [{ check: ef.check, from: ef.from, to: ef.to, at: new Date(ef.at).toISOString(), reason: ef.reason }, `check ${ef.check}: ${ef.from} -> ${ef.to}`] as const;
    if (n <= FLIP_LOG_LIMIT) {
      for (const [, ef] of effects) if (ef.type === 'flip') log.info(...line(ef));
      return;
    }
    const debug = log.isLevelEnabled('debug');
    const groups = new Map<string, { from: string; to: string; checks: string[]; first: number; last: number; reason: string | undefined }>();
    for (const [, ef] of effects) {
      if (ef.type !== 'flip') continue;
      if (debug) log.debug(...line(ef));
      const k = `${ef.from}>${ef.to}`;
      const g = groups.get(k);
      if (!g) groups.set(k, { from: ef.from, to: ef.to, checks: [ef.check], first: ef.at, last: ef.at, reason: ef.reason });
      else {
        g.checks.push(ef.check);
        if (ef.at < g.first) g.first = ef.at;
        if (ef.at > g.last) g.last = ef.at;
        if (g.reason !== ef.reason) g.reason = undefined;
      }
    }
    for (const g of groups.values()) {
      log.info(
        { flips: g.checks.length, from: g.from, to: g.to, at: new Date(g.first).toISOString(), last_at: new Date(g.last).toISOString(), ...(g.reason !== undefined ? { reason: g.reason } : {}), checks: g.checks },
        `${g.checks.length.toLocaleString('en')} checks: ${g.from} -> ${g.to}`,
      );
    }
  }

  private schedule(e: Entry): void {
    if (!this.started) return;
    const d = nextDeadline(e.spec, e.state);
    if (d === null) return;
    this.heap.push(d, e, e.version);
    this.arm();
  }

  private arm(): void {
    // Drop stale heap entries so the timer aims at a live deadline.
    for (;;) {
      const e = this.heap.peekValue();
      if (!e) break;
      if (e.version === this.heap.peekTag()) break;
      this.heap.drop();
    }
    if (this.heap.size === 0) return;
    const topKey = this.heap.peekKey();
    if (this.timer && this.timerAt <= topKey) return;
    if (this.timer) this.timers.clearTimeout(this.timer);
    const delay = Math.min(Math.max(0, topKey - this.opts.clock.now()), 2_147_000_000);
    this.timerAt = topKey;
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.wake().catch((err) => this.opts.logger.error({ err }, 'check timer failed'));
    }, delay);
  }

  /**
   * Apply every deadline that has passed, at most WAKE_SLICE checks at a time: each slice is stored
   * (one transaction) and its effects dispatched before the next, and the event loop gets a turn in
   * between — 100,000 checks going down in the same second never block the API, ingest or SIGTERM.
   * Two slices are in flight: while one is being stored (on the writer thread) the one before it is
   * dispatched; a slice's effects still go out only once it is stored, and in order.
   */
  private async wake(): Promise<void> {
    if (!this.started || this.waking) return;
    this.waking = true;
    let previous: Promise<void> = Promise.resolve();
    try {
      for (;;) {
        if (!this.started) return;
        const now = this.opts.clock.now();
        const due: Entry[] = [];
        const effects: Array<[Entry, Effect]> = [];
        while (due.length < WAKE_SLICE) {
          if (this.heap.size === 0 || this.heap.peekKey() > now) break;
          const e = this.heap.peekValue()!;
          const version = this.heap.peekTag();
          this.heap.drop();
          if (e.version !== version) continue;
          this.apply(e, { kind: 'tick' }, now, effects);
          due.push(e);
        }
        if (due.length === 0) return;
        // A store failure is logged by persist(); alerting goes on regardless, and the states and
        // flips are kept to be written again (retryWrites) — the deadlines really passed.
        const stored = this.persist(due, effects).catch(() => this.keepUnsaved(due, effects));
        // Never rejects: a failing 'events' listener is logged, and the next slices still go out.
        const dispatched = Promise.all([previous, stored])
          .then(() => {
            for (const e of due) this.schedule(e);
            this.dispatch(effects);
            this.emit('events', due.map((e) => e.spec.name));
          })
          .catch((err) => this.opts.logger.error({ err }, 'check timer failed'));
        await previous;
        previous = dispatched;
        if (due.length < WAKE_SLICE) return;
        await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      await previous;
      this.waking = false;
      this.arm();
    }
  }
}
