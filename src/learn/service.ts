/**
 * Learned limits in the service: models restored from the store and saved every minute (and at
 * shutdown), fed by every real event of a pushed check or by the counts an InfluxDB-fed check's
 * polls see, and rate-drop windows judged at their close. The verdicts go to the engine as inputs
 * through `apply`; nothing here reads the clock except through the injected one.
 */
import type { CheckInput, CheckSpec } from '../checks/types.ts';
import type { CheckConfig } from '../config/schema.ts';
import { specFor } from '../checks/spec.ts';
import type { Clock, Timers } from '../lib/clock.ts';
import { systemTimers } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { HistoryBucket } from '../sources/influx.ts';
import { LearnedLimits } from './model.ts';
import { RateWindows, verdictInput } from './rate-windows.ts';
import type { LearnStore } from './store-sqlite.ts';

const SEED_BUCKET_MS = 300_000;
const HISTORY_MS = 28 * 86_400_000;

interface Learner {
  config: CheckConfig;
  /** The engine's spec (shared with the runtime): a reload puts the new model in its `limits`. */
  spec: CheckSpec;
  limits: LearnedLimits;
  windows?: RateWindows;
}

export interface LearningDeps {
  store: LearnStore;
  clock: Clock;
  timers?: Timers;
  logger: Logger;
  /** Tell the engine a rate verdict. */
  apply: (check: string, input: CheckInput) => Promise<unknown>;
  /** The check's rate-low flag right now (a normal window is told only to clear it). */
  rateLow: (check: string) => boolean;
}

/** What an InfluxDB-fed check's history and counting need from the source. */
export interface CountingSource {
  seedHistory(check: string, from: number, opts: { bucketMs: number; until: number }): Promise<HistoryBucket[]>;
  countFrom(check: string, from: number): void;
}

export class LearningService {
  private readonly learners = new Map<string, Learner>();
  /** When this run started watching: windows that ended before (a fed check's catch-up) are history, never judged. */
  private watchingSince = Infinity;
  private timer: unknown;
  private ticks = 0;

  private constructor(private readonly d: LearningDeps) {}

  /**
   * The engine's spec of every check, with learned-limits models restored from the store. Models of
   * pushed checks skip the time the service was down (nobody watched: not learned as silence).
   */
  static async create(checks: readonly CheckConfig[], d: LearningDeps): Promise<{ learning: LearningService; specs: Map<string, CheckSpec> }> {
    const learning = new LearningService(d);
    const specs = new Map<string, CheckSpec>();
    for (const c of checks) {
      const needsModel = c.learn && (c.quietAfter === 'auto' || c.pageAfter === 'auto');
      const saved = needsModel ? await d.store.load(c.name) : null;
      const spec = specFor(c, saved?.state);
      specs.set(c.name, spec);
      if (!spec.limits || !c.learn) continue;
      const limits = spec.limits as LearnedLimits;
      if (saved && !c.source) limits.model.skipTo(saved.savedAt, d.clock.now());
      const windows = rateWindows(c, limits);
      learning.learners.set(c.name, { config: c, spec, limits, ...(windows ? { windows } : {}) });
    }
    return { learning, specs };
  }

  /**
   * A takeover (replicas on PostgreSQL): the models the previous leader saved replace the ones this
   * replica loaded at its own start (a follower learns nothing: its events go to the leader). Done
   * before the relayed events are applied and the checks resume; pushed checks skip from the save
   * to now, as at a start (the old leader's last minute, unsaved, is not learned as silence).
   * Returns the checks whose model was replaced.
   */
  async reload(): Promise<string[]> {
    const now = this.d.clock.now();
    const replaced: string[] = [];
    for (const [name, l] of this.learners) {
      const saved = await this.d.store.load(name);
      if (!saved) continue;
      const limits = new LearnedLimits(l.limits.config, l.limits.options, saved.state);
      if (!l.config.source) limits.model.skipTo(saved.savedAt, now);
      l.limits = limits;
      l.spec.limits = limits;
      const windows = rateWindows(l.config, limits);
      if (windows) l.windows = windows;
      else delete l.windows;
      replaced.push(name);
    }
    return replaced;
  }

  /** The runtime's observer for a pushed check's real events, or undefined (fed checks learn from counts). Follows a reload. */
  observer(check: string): ((at: number) => void) | undefined {
    const l = this.learners.get(check);
    if (!l || l.config.source) return undefined;
    return (at) => {
      l.limits.observe(at);
      l.windows?.observe(at);
    };
  }

  has(check: string): boolean {
    return this.learners.has(check);
  }

  /**
   * For GET /v1/checks/{name}: the quiet-triggered probes a day the learned limit is set to spend
   * (expected), what the stream's history gives (observed), and the budget share it may spend.
   */
  details(check: string): Record<string, unknown> {
    const l = this.learners.get(check);
    if (!l) return {};
    const c = l.config;
    return {
      learning: learningDetail(l.limits),
      probesPerDay: { ...l.limits.probesPerDay(), ...(c.probe ? { budgetPerDay: c.probe.budget.perDay, share: c.learn?.probeShare } : {}) },
    };
  }

  /** The checks with learned limits that have never received an event (phase `new`: silence alone does not page them). */
  newChecks(): string[] {
    const out: string[] = [];
    for (const [name, l] of this.learners) if (l.limits.phase() === 'new') out.push(name);
    return out;
  }

  /**
   * For /readyz: a warning (ok, not degraded) naming the checks that never received an event — a
   * check that was never wired says nothing by itself (its first event ends the phase). Empty
   * when there are none. At most `shown` names and a count.
   */
  readiness(shown = 20): Record<string, { ok: true; detail: { warning: string; checks: string[]; count: number } }> {
    const names = this.newChecks();
    if (names.length === 0) return {};
    const more = names.length - shown;
    const listed = names.slice(0, shown);
    const warning = `checks that never received an event: ${listed.join(', ')}${more > 0 ? ` and ${more} more` : ''} (learned limits: no page on silence until the first event; a lost probe still pages)`;
    return { learning: { ok: true, detail: { warning, checks: listed, count: names.length } } };
  }

  /**
   * An InfluxDB-fed check's points in [from, to), known as a count: learned as such, shared out over
   * the rate-drop windows it covers, and the windows it closed judged.
   */
  feedCounts(check: string, from: number, to: number, n: number): void {
    const l = this.learners.get(check);
    if (!l || !(to > from)) return;
    l.limits.observeCount(from, to, n);
    if (!l.windows) return;
    l.windows.observeCount(from, to, n);
    this.judge(check, l, to);
  }

  /** Start watching: judge windows from now on, on a 10 s timer, and save models every minute. */
  start(): void {
    this.watchingSince = this.d.clock.now();
    const timers = this.d.timers ?? systemTimers;
    const every = () => {
      this.judgePushed();
      if (++this.ticks % 6 === 0) this.save().catch((err) => this.d.logger.error({ err }, 'could not save learned models'));
    };
    this.timer = timers.setInterval(every, 10_000);
    this.judgePushed();
  }

  /** Stop the timers (a deposed leader: the new leader's models are the newer ones, so no save). */
  pause(): void {
    if (this.timer !== undefined) (this.d.timers ?? systemTimers).clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stop the timers and save the models (shutdown of the leader). */
  async stop(): Promise<void> {
    this.pause();
    await this.save().catch((err) => this.d.logger.error({ err }, 'could not save learned models'));
  }

  async save(): Promise<void> {
    const now = this.d.clock.now();
    for (const [name, l] of this.learners) await this.d.store.save(name, l.limits.model.toJSON(), now);
  }

  /**
   * InfluxDB-fed checks start from the measurement's own history: a restored model counts on from
   * where it stopped (the downtime is learned as what InfluxDB saw); a new one is seeded with whole
   * 5-minute buckets of the last 28 days. A failing InfluxDB delays nothing else.
   */
  async seedFed(source: CountingSource): Promise<void> {
    const fed = [...this.learners.values()].filter((l) => l.config.source);
    await Promise.all(
      fed.map(async ({ config: c, limits }) => {
        const lastAt = limits.model.toJSON().lastAt;
        if (limits.learned() && lastAt !== null) {
          // Beyond 28 days back (or the measurement's retention) nothing is counted: not learned as silence either.
          const from = Math.max(lastAt, this.d.clock.now() - HISTORY_MS);
          limits.model.skipTo(lastAt, from);
          source.countFrom(c.name, from);
          return;
        }
        const until = Math.floor((this.d.clock.now() - c.source!.countDelay) / SEED_BUCKET_MS) * SEED_BUCKET_MS;
        try {
          const all = await source.seedHistory(c.name, until - HISTORY_MS, { bucketMs: SEED_BUCKET_MS, until });
          // Empty buckets before the first point are time before the measurement existed, not silence.
          const first = all.findIndex((b) => b.count > 0);
          const buckets = first < 0 ? [] : all.slice(first);
          limits.seed(buckets.map((b) => ({ start: b.start, count: b.count, bucketMs: SEED_BUCKET_MS })));
          this.d.logger.info({ check: c.name, buckets: buckets.length, learned: limits.learned() }, 'learned limits seeded from InfluxDB history');
        } catch (err) {
          this.d.logger.warn({ err, check: c.name }, 'could not seed learned limits from InfluxDB history');
        }
        source.countFrom(c.name, until);
      }),
    );
  }

  /** Pushed checks: windows that ended by now (an empty one too) are closed and judged. */
  private judgePushed(): void {
    const now = this.d.clock.now();
    for (const [name, l] of this.learners) if (l.windows && !l.config.source) this.judge(name, l, now);
  }

  private judge(check: string, l: Learner, t: number): void {
    const verdicts = l.windows!.judge(t, this.watchingSince);
    if (verdicts.length === 0) return;
    // One verdict at a time against the engine's own flag (as the backtest does): the engine may
    // ignore one (paused), and runtime.input applies it before it resolves.
    for (const v of verdicts) {
      const input = verdictInput(v, this.d.rateLow(check));
      if (input) this.d.apply(check, input).catch((err) => this.d.logger.error({ err, check }, 'rate-drop verdict could not be applied'));
    }
  }
}

/** GET /v1/checks/{name} `learning`: the phase, and what it means for pages. */
export function learningDetail(limits: LearnedLimits): Record<string, unknown> {
  const phase = limits.phase();
  const m = limits.model;
  return {
    phase,
    firstEventAt: m.firstEventAt(),
    watchedMs: m.watchedMs(),
    warmupMs: limits.config.warmup,
    ...(phase === 'new' ? { note: 'never received an event: silence alone does not page until the first event (a lost probe still pages)' } : {}),
  };
}

function rateWindows(c: CheckConfig, limits: LearnedLimits): RateWindows | undefined {
  const rd = c.learn?.rateDrop;
  return rd ? new RateWindows({ window: rd.window, minDrop: rd.minDrop, falseAlarms: rd.falseAlarms }, limits.model) : undefined;
}
