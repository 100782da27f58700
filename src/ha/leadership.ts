/**
 * Who does the leader's duties. With SQLite the one process always leads. With PostgreSQL every
 * replica serves the API and accepts events; the one holding the lease (src/ha/lease.ts) evaluates
 * deadlines, fires probes and sends notifications. A follower mirrors the check states the leader
 * saves (every second) so its API answers the same; when elected it takes over — resuming the
 * checks from the saved states and the relayed events when the previous leader lapsed moments ago,
 * or taking the restart rule on a first start — after reading again what the previous leader saved
 * since this replica started (its learned models); when deposed it stops every duty.
 */
import type { CheckRuntime } from '../checks/runtime.ts';
import type { IngestEvent } from '../ingest/types.ts';
import type { Timers } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { MetricsSink } from '../metrics/sink.ts';
import type { Store } from '../store/types.ts';
import type { LeaderLease } from './lease.ts';
import type { EventRelay } from './relay.ts';

/** The leader's duties, started in order after the runtime, and stopped in reverse. */
export interface Duty {
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
}

export interface LeadershipDeps {
  lease?: LeaderLease;
  relay?: EventRelay;
  store: Store;
  runtime: CheckRuntime;
  /** Apply relayed events on the leader (the one ingest path). */
  apply: (events: readonly IngestEvent[]) => Promise<unknown>;
  /** Before the runtime starts (outbox resend, interrupted charges finished). */
  before: Duty;
  /**
   * Replicas only, at each election, before the saved states and the relayed events are taken in:
   * read again what the previous leader changed since this replica started (learned models).
   * A failure is logged and the replica leads with what it has.
   */
  reload?: () => Promise<unknown>;
  /** After the runtime starts, in order. */
  duties: Duty[];
  /** Checks that take the restart rule even at a takeover (those with a probe). */
  restartRuleAlways: ReadonlySet<string>;
  timers: Timers;
  now: () => number;
  sink: MetricsSink;
  logger: Logger;
  reportEveryMs: number;
  onDeposed?: (reason: string) => void;
}

export class Leadership {
  private leading = false;
  private mirrorTimer: unknown;
  private roleTimer: unknown;

  constructor(private readonly d: LeadershipDeps) {}

  isLeader(): boolean {
    return this.d.lease ? this.d.lease.isLeader() : true;
  }

  role(): 'leader' | 'follower' {
    return this.isLeader() ? 'leader' : 'follower';
  }

  /** Whether the duties run here (false on a follower, and after close). */
  leads(): boolean {
    return this.leading;
  }

  detail(): Record<string, unknown> {
    const l = this.d.lease;
    return { role: this.role(), ...(l ? { holder: l.holder, leader: l.leader() ?? null, ...(l.token() !== undefined ? { token: l.token() } : {}) } : {}) };
  }

  /** Which replica leads, for the board (undefined without replicas: one SQLite process always leads). */
  replica(): { self: string; role: 'leader' | 'follower'; leader: string | null } | undefined {
    const l = this.d.lease;
    return l && { self: l.holder, role: this.role(), leader: l.leader() ?? null };
  }

  async start(): Promise<void> {
    const { lease, timers } = this.d;
    if (!lease) return this.lead();
    const mirror = () => {
      if (this.leading) return;
      this.d.store.loadCheckStates().then(
        (saved) => !this.leading && this.d.runtime.adopt(saved),
        (err) => this.d.logger.warn({ err_code: (err as { code?: string }).code, error: (err as Error).message }, 'follower: could not read check states'),
      );
    };
    mirror();
    this.mirrorTimer = timers.setInterval(mirror, 1000);
    lease.on('elected', () => {
      this.lead().catch((err) => this.d.logger.error({ err }, 'could not take up the leader duties'));
    });
    lease.on('deposed', (reason: string) => {
      this.reportRole();
      this.d.logger.error({ reason }, 'lost the leader lease: stopping the leader duties');
      if (this.d.onDeposed) return this.d.onDeposed(reason);
      void lease.stop({ release: false });
      this.stopLeading().catch((err) => this.d.logger.error({ err }, 'could not stop the leader duties'));
    });
    lease.start();
    this.roleTimer = timers.setInterval(() => this.reportRole(), this.d.reportEveryMs);
    this.reportRole();
  }

  /** Stop everything (shutdown). Resolves whether this replica was leading. */
  async stop(): Promise<boolean> {
    const was = this.leading || !this.d.lease;
    if (this.mirrorTimer !== undefined) this.d.timers.clearInterval(this.mirrorTimer);
    if (this.roleTimer !== undefined) this.d.timers.clearInterval(this.roleTimer);
    await this.stopLeading();
    return was;
  }

  private reportRole(): void {
    this.d.sink.health({ component: 'leader', ok: this.isLeader(), at: this.d.now() });
  }

  private async lead(): Promise<void> {
    const { lease, relay, runtime, store, logger } = this.d;
    if (this.mirrorTimer !== undefined) this.d.timers.clearInterval(this.mirrorTimer);
    this.mirrorTimer = undefined;
    this.leading = true;
    this.reportRole();
    await this.d.before.start();
    if (lease && this.d.reload) {
      await this.d.reload().catch((err) => logger.error({ err_code: (err as { code?: string }).code, error: (err as Error).message }, 'takeover: could not reload what the previous leader saved; leading with what this replica loaded at its start'));
    }
    // A takeover from a replica that led until moments ago resumes its checks as saved, after the
    // events relayed meanwhile are in (silence measured from the events in the database, never from
    // this start). A first start, or one long after the last leader, takes the restart rule.
    const h = lease?.handover();
    const resume = !!relay && !!h && !h.first && h.msSinceLapse <= Math.max(60_000, 2 * lease!.ttlMs);
    if (resume) {
      runtime.adopt(await store.loadCheckStates());
      await relay!.drainBacklog((events) => this.d.apply(events));
      // Checks with a probe take the restart rule: a quiet deadline caught up after the gap would
      // fire a probe whose own deadline has already passed (never charged), which would then stay
      // silent until pageAfter. Their probe detects a silence quickly anyway.
      await runtime.start({ resume: (name) => !this.d.restartRuleAlways.has(name) });
      logger.info({ previous: h && !h.first ? h.previousHolder : undefined, ms_since_lapse: h && !h.first ? h.msSinceLapse : undefined }, 'took over: checks resumed from the saved states and the relayed events');
    } else await runtime.start();
    for (const duty of this.d.duties) await duty.start();
    relay?.start((events) => this.d.apply(events));
    if (lease) logger.info({ holder: lease.holder, token: lease.token() }, 'leading: evaluating deadlines, firing probes, sending notifications');
  }

  private async stopLeading(): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    for (const duty of [...this.d.duties].reverse()) await duty.stop();
    this.d.runtime.stop();
    await this.d.relay?.stop();
    await this.d.before.stop();
  }
}
