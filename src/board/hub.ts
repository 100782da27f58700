/**
 * The board's server-sent-event hub: one set of runtime listeners, however many screens watch.
 * Listeners are attached when the first screen connects and removed when the last one leaves, so an
 * idle board costs nothing and a closed stream leaks nothing. Updates are coalesced per check (at
 * most one push per check per `coalesceMs`; the last state always goes out), a heartbeat keeps
 * proxies from closing quiet streams and lets the page notice when it stops hearing from us, and the
 * incident list is re-read after flips and on a slow poll (acknowledgements do not flip a check),
 * which also catches the few check changes the runtime announces neither as a flip nor as events.
 */
import type { ServerResponse } from 'node:http';
import type { CheckRuntime } from '../checks/runtime.ts';
import type { Flip } from '../checks/types.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { BoardHistory, CheckHistory } from './history.ts';
import { boardCheck, boardIncidents, sseComment, sseEvent, type BoardIncident, type BoardReplica, type BoardSnapshot, type IncidentLike } from './model.ts';

/** A screen that stops reading (asleep, network gone) is dropped past this much unsent data. */
const MAX_BUFFERED_BYTES = 1 << 20;

export interface HubOptions {
  runtime: CheckRuntime;
  clock: Clock;
  incidents?: () => Promise<readonly IncidentLike[]>;
  heartbeatMs: number;
  coalesceMs: number;
  pollMs: number;
  /** How long a snapshot waits for the incident list before going out without it. */
  incidentsTimeoutMs: number;
  /** The state strips and rate sparklines; sent in the snapshot and again every `historyMs`. */
  history?: BoardHistory;
  historyMs?: number;
  /** Which replica leads (replicas on PostgreSQL): in the snapshot, and a `replica` event when it changes. */
  replica?: () => BoardReplica | undefined;
  logger?: Logger;
}

interface Incidents {
  incidents: BoardIncident[];
  error?: string;
}

/** Per-key coalescing: the first touch goes out on the next turn, later ones at most every `ms`. */
export class Coalescer {
  private readonly cooling = new Map<string, NodeJS.Timeout>();
  private readonly dirty = new Set<string>();
  private readonly queued = new Set<string>();
  private flushTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ms: number,
    private readonly send: (key: string) => void,
  ) {}

  touch(key: string): void {
    if (this.cooling.has(key)) {
      this.dirty.add(key);
      return;
    }
    this.queued.add(key);
    // setTimeout(0) merges the touches of one turn (a flip and its batch's 'events').
    this.flushTimer ??= setTimeout(() => this.flush(), 0);
  }

  clear(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    for (const t of this.cooling.values()) clearTimeout(t);
    this.cooling.clear();
    this.dirty.clear();
    this.queued.clear();
  }

  private flush(): void {
    this.flushTimer = null;
    const keys = [...this.queued];
    this.queued.clear();
    for (const k of keys) this.emit(k);
  }

  private emit(key: string): void {
    this.send(key);
    const t = setTimeout(() => {
      this.cooling.delete(key);
      if (this.dirty.delete(key)) this.emit(key);
    }, this.ms);
    t.unref?.();
    this.cooling.set(key, t);
  }
}

export class BoardHub {
  private readonly clients = new Set<ServerResponse>();
  private readonly coalescer: Coalescer;
  private heartbeat: NodeJS.Timeout | null = null;
  private poll: NodeJS.Timeout | null = null;
  private historyTimer: NodeJS.Timeout | null = null;
  private afterFlip: NodeJS.Timeout | null = null;
  private refreshing = false;
  private refreshAgain = false;
  /** What the screens were last told about incidents (JSON), to send only changes. */
  private sentIncidents: string | null = null;
  /** What the screens were last told about each check (JSON), for the sweep. */
  private readonly sentChecks = new Map<string, string>();
  private lastGoodIncidents: BoardIncident[] = [];
  /** What the screens were last told about the replicas (JSON). */
  private sentReplica: string | null = null;

  private readonly onFlip = (f: Flip) => {
    this.coalescer.touch(f.check);
    // The alert manager opens or resolves the incident just after the flip.
    if (this.o.incidents && !this.afterFlip) {
      this.afterFlip = setTimeout(() => {
        this.afterFlip = null;
        void this.refreshIncidents();
      }, 250);
      this.afterFlip.unref?.();
    }
  };

  private readonly onEvents = (names: readonly string[]) => {
    for (const n of names) this.coalescer.touch(n);
  };

  constructor(private readonly o: HubOptions) {
    this.coalescer = new Coalescer(o.coalesceMs, (name) => this.sendCheck(name));
  }

  /** Screens connected now. */
  get size(): number {
    return this.clients.size;
  }

  /** The whole board now (for GET /v1/board and each stream's first frame). */
  async snapshot(): Promise<BoardSnapshot> {
    const inc = await this.readIncidents();
    // Checks are read after the await, so they are never older than the incident list.
    return {
      serverTime: this.o.clock.now(),
      heartbeatMs: this.o.heartbeatMs,
      checks: this.o.runtime.snapshots().map(boardCheck),
      incidents: inc.incidents,
      ...(inc.error ? { incidentsError: inc.error } : {}),
      ...(this.o.history ? { history: this.histories() } : {}),
      ...(this.replica() ? { replica: this.replica()! } : {}),
    };
  }

  /** Which replica leads, never failing (the board stays up whatever the lease does). */
  private replica(): BoardReplica | undefined {
    try {
      return this.o.replica?.();
    } catch (err) {
      this.o.logger?.warn({ err }, 'board: could not tell which replica leads');
      return undefined;
    }
  }

  /** A change of leader (or of this replica's role) goes to every screen; checked on each poll. */
  private sweepReplica(): void {
    const r = this.replica();
    if (!r) return;
    const json = JSON.stringify(r);
    if (json === this.sentReplica) return;
    this.sentReplica = json;
    this.broadcast(sseEvent('replica', { serverTime: this.o.clock.now(), replica: r }));
  }

  /** Every check's last 6 hours, by name. */
  histories(): Record<string, CheckHistory> {
    const out: Record<string, CheckHistory> = {};
    const h = this.o.history;
    if (!h) return out;
    for (const name of this.o.runtime.names()) {
      const x = h.history(name);
      if (x) out[name] = x;
    }
    return out;
  }

  /**
   * Start streaming to `res` (headers already written). The snapshot is the first frame; the
   * screen is subscribed in the same turn, so no update can fall between the two.
   */
  async connect(res: ServerResponse): Promise<void> {
    res.on('close', () => this.disconnect(res));
    const snap = await this.snapshot();
    if (res.destroyed || res.writableEnded) return;
    res.write('retry: 3000\n\n');
    this.write(res, sseEvent('snapshot', snap));
    if (res.destroyed) return;
    const first = this.clients.size === 0;
    this.clients.add(res);
    if (first) {
      for (const c of snap.checks) this.sentChecks.set(c.name, JSON.stringify(c));
      this.sentReplica = snap.replica ? JSON.stringify(snap.replica) : null;
      this.attach();
    } else if (snap.replica && JSON.stringify(snap.replica) !== this.sentReplica) this.sweepReplica();
    const incJson = JSON.stringify({ incidents: snap.incidents, error: snap.incidentsError });
    if (first || this.sentIncidents === null) this.sentIncidents = incJson;
    else if (incJson !== this.sentIncidents) void this.refreshIncidents();
  }

  /** End every stream (server shutdown: open streams would otherwise hold the server open). */
  closeAll(): void {
    for (const res of [...this.clients]) {
      this.clients.delete(res);
      res.end();
    }
    this.detach();
  }

  private disconnect(res: ServerResponse): void {
    if (!this.clients.delete(res)) return;
    if (this.clients.size === 0) this.detach();
  }

  private attach(): void {
    this.o.runtime.on('flip', this.onFlip);
    this.o.runtime.on('events', this.onEvents);
    this.heartbeat = setInterval(() => {
      this.broadcast(sseComment('heartbeat') + sseEvent('time', { serverTime: this.o.clock.now() }));
    }, this.o.heartbeatMs);
    this.heartbeat.unref?.();
    this.poll = setInterval(() => {
      this.sweep();
      this.sweepReplica();
      if (this.o.incidents) void this.refreshIncidents();
    }, this.o.pollMs);
    this.poll.unref?.();
    if (this.o.history) {
      // A new minute bucket closes every minute: the strips and sparklines move on.
      this.historyTimer = setInterval(() => this.broadcast(sseEvent('history', { serverTime: this.o.clock.now(), history: this.histories() })), this.o.historyMs ?? 60_000);
      this.historyTimer.unref?.();
    }
  }

  private detach(): void {
    this.o.runtime.off('flip', this.onFlip);
    this.o.runtime.off('events', this.onEvents);
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.poll) clearInterval(this.poll);
    if (this.afterFlip) clearTimeout(this.afterFlip);
    if (this.historyTimer) clearInterval(this.historyTimer);
    this.heartbeat = this.poll = this.afterFlip = this.historyTimer = null;
    this.coalescer.clear();
    this.sentIncidents = null;
    this.sentReplica = null;
    this.sentChecks.clear();
  }

  /**
   * The runtime announces flips and ingested events; a few changes come without either (a probe
   * fired or answered while the check stays quiet). The slow poll catches those.
   */
  private sweep(): void {
    for (const snap of this.o.runtime.snapshots()) {
      if (this.sentChecks.get(snap.name) !== JSON.stringify(boardCheck(snap))) this.coalescer.touch(snap.name);
    }
  }

  private sendCheck(name: string): void {
    const snap = this.o.runtime.snapshot(name);
    if (!snap) return;
    const check = boardCheck(snap);
    this.sentChecks.set(name, JSON.stringify(check));
    this.broadcast(sseEvent('check', { serverTime: this.o.clock.now(), check }));
  }

  private broadcast(frame: string): void {
    for (const res of this.clients) this.write(res, frame);
  }

  private write(res: ServerResponse, frame: string): void {
    if (res.destroyed || res.writableEnded) return;
    res.write(frame);
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      this.o.logger?.warn({ buffered: res.writableLength }, 'board: a screen stopped reading its stream; dropping it');
      this.disconnect(res);
      res.destroy();
    }
  }

  private async refreshIncidents(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = true;
    try {
      do {
        this.refreshAgain = false;
        const inc = await this.readIncidents();
        if (this.clients.size === 0) return;
        const json = JSON.stringify({ incidents: inc.incidents, error: inc.error });
        if (json === this.sentIncidents) continue;
        this.sentIncidents = json;
        this.broadcast(sseEvent('incidents', { serverTime: this.o.clock.now(), incidents: inc.incidents, ...(inc.error ? { incidentsError: inc.error } : {}) }));
      } while (this.refreshAgain);
    } finally {
      this.refreshing = false;
    }
  }

  /**
   * The open incidents, never failing and never slow: the board must stay up when the alerting
   * store is not. On failure the last list read is shown with an error.
   */
  private async readIncidents(): Promise<Incidents> {
    const fn = this.o.incidents;
    if (!fn) return { incidents: [] };
    let timer: NodeJS.Timeout | undefined;
    try {
      const list = await Promise.race([
        fn(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${this.o.incidentsTimeoutMs} ms`)), this.o.incidentsTimeoutMs);
        }),
      ]);
      this.lastGoodIncidents = boardIncidents(list);
      return { incidents: this.lastGoodIncidents };
    } catch (err) {
      this.o.logger?.warn({ err }, 'board: could not read open incidents');
      return { incidents: this.lastGoodIncidents, error: 'open incidents could not be read; the list may be out of date' };
    } finally {
      if (timer) clearTimeout(timer);
    }
  }
}
