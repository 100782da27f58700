/**
 * Who watches the watcher: quietwatch's own heartbeat to an external dead man's switch
 * (Healthchecks.io, Cronitor, or any HTTP receiver), the way Prometheus users send an always-firing
 * Watchdog alert out. The heartbeat goes out every `every` **only while quietwatch can still page**:
 * its check loop is alive, its store answers, its notifiers are not failing. When a component fails
 * the heartbeat stops (the receiver alarms when it is late) or, for receivers that take a failure
 * signal, the failure goes out at once with the reason. A dead process, a hung event loop or a host
 * that is gone send nothing at all — which is the point: silence is the alarm.
 *
 * The decision is pure (`decideBeat`, `failUrlFor`); the class is the thin shell around one
 * interval timer, with the clock, timers, logger, fetch and the health source injected.
 */
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { Secret } from '../lib/secret.ts';
import type { WatchdogConfig } from './config.ts';

export { watchdogConfigSchema, type WatchdogConfig } from './config.ts';

/** One component's health as the watchdog sees it. */
export interface ComponentState {
  ok: boolean;
  /** Why not, in a few words (sent in a POST body and logged: keep secrets out). */
  detail?: string;
}

/** What `health()` returns: the three things quietwatch needs to page. Extra components are allowed. */
export interface WatchdogHealth {
  loop: ComponentState;
  store: ComponentState;
  notifiers: ComponentState;
  [component: string]: ComponentState;
}

/** The timers the watchdog uses (the globals in production, vitest's fake timers in tests). */
export interface Scheduler {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const globalScheduler: Scheduler = {
  setInterval: (fn, ms) => {
    const h = setInterval(fn, ms);
    h.unref?.();
    return h;
  },
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export type BeatDecision =
  | { kind: 'ok'; body: string }
  | { kind: 'fail'; failing: string[]; body: string }
  | { kind: 'withhold'; failing: string[] };

/**
 * The failure form of a ping URL, when the receiver has one: Healthchecks.io (`hc-ping.com/<uuid>`,
 * a self-hosted `/ping/<uuid>` or `/ping/<key>/<slug>`) takes `/fail` appended to the path;
 * Cronitor (`cronitor.link`) takes `state=fail` in the query. Others have none: undefined.
 */
export function failUrlFor(pingUrl: string): string | undefined {
  let u: URL;
  try {
    u = new URL(pingUrl);
  } catch {
    return undefined;
  }
  const host = u.hostname.toLowerCase();
  if (host === 'cronitor.link' || host.endsWith('.cronitor.link')) {
    u.searchParams.set('state', 'fail');
    return u.toString();
  }
  const path = u.pathname.replace(/\/+$/, '');
  const hcHost = host === 'hc-ping.com' || host.endsWith('.hc-ping.com');
  if (hcHost || /\/ping\/[^/]+(\/[^/]+)?$/.test(path)) {
    if (/\/(fail|start|log|\d{1,3})$/.test(path) && path.split('/').length > (hcHost ? 2 : 3)) return undefined; // already a signal URL
    u.pathname = `${path}/fail`;
    return u.toString();
  }
  return undefined;
}

/** The components that fail, in a stable order (loop, store, notifiers, then the rest by name). */
export function failingComponents(h: WatchdogHealth): string[] {
  const first = ['loop', 'store', 'notifiers'];
  const rest = Object.keys(h).filter((k) => !first.includes(k)).sort();
  return [...first, ...rest].filter((k) => h[k] !== undefined && h[k]!.ok !== true);
}

const MAX_DETAIL = 200;

/** The plain-text body of a POST heartbeat: one line per component (Healthchecks shows it in its log). */
export function beatBody(h: WatchdogHealth): string {
  return Object.entries(h)
    .map(([k, c]) => `${k}: ${c.ok ? 'ok' : 'FAILING'}${c.detail ? ` (${c.detail.replace(/\s+/g, ' ').slice(0, MAX_DETAIL)})` : ''}`)
    .join('\n');
}

/** Pure: what to send for this health, given whether the receiver takes a failure signal. */
export function decideBeat(h: WatchdogHealth, canSignalFailure: boolean): BeatDecision {
  const failing = failingComponents(h);
  if (failing.length === 0) return { kind: 'ok', body: beatBody(h) };
  return canSignalFailure ? { kind: 'fail', failing, body: beatBody(h) } : { kind: 'withhold', failing };
}

export interface BeatRecord {
  at: number;
  /** sent: a heartbeat the receiver accepted; failed: the failure signal the receiver accepted; withheld: nothing sent. */
  outcome: 'sent' | 'fail-sent' | 'withheld' | 'receiver-error' | 'skipped-overlap';
  failing?: string[];
  status?: number;
  error?: string;
  latencyMs?: number;
}

export interface WatchdogStats {
  /** Heartbeats the receiver accepted. */
  sent: number;
  /** Failure signals the receiver accepted. */
  failSignals: number;
  /** Beats not sent because a component failed (onUnhealthy: stop). */
  withheld: number;
  /** Requests the receiver did not accept (down, refused, timeout, non-2xx). */
  receiverErrors: number;
  /** Ticks skipped because the previous beat had not finished. */
  overlaps: number;
  consecutiveReceiverErrors: number;
  lastSentAt: number | null;
  lastOutcome: BeatRecord | null;
}

export interface WatchdogDeps {
  clock: Clock;
  logger: Logger;
  /** The components' health now. A throw or no answer within the request timeout counts as failing. */
  health: () => Promise<WatchdogHealth> | WatchdogHealth;
  scheduler?: Scheduler;
  fetch?: typeof fetch;
  /** After every beat (metrics). */
  onBeat?: (r: BeatRecord) => void;
}

/** The watchdog's resolved settings (from `WatchdogConfig`, or built by hand in tests). */
export interface WatchdogOptions {
  url: Secret;
  everyMs: number;
  method: 'GET' | 'POST' | 'HEAD';
  timeoutMs: number;
  onUnhealthy: 'stop' | 'fail';
  failUrl?: Secret;
}

/** Config section -> options: Healthchecks/Cronitor URLs (or an explicit failUrl) get `fail` by default. */
export function watchdogOptions(c: WatchdogConfig): WatchdogOptions {
  const derived = failUrlFor(c.url.reveal());
  const failUrl = c.failUrl ?? (derived !== undefined ? secretLike(derived) : undefined);
  const onUnhealthy = c.onUnhealthy ?? (failUrl ? 'fail' : 'stop');
  return { url: c.url, everyMs: c.every, method: c.method, timeoutMs: c.timeout, onUnhealthy, ...(onUnhealthy === 'fail' && failUrl ? { failUrl } : {}) };
}

// A derived URL is as secret as the one it came from.
const secretLike = (v: string): Secret => new Secret(v);

/** Where a URL goes, for logs: scheme and host only (the path of a ping URL is its secret). */
export function safeTarget(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '<invalid url>';
  }
}

export class Watchdog {
  readonly #o: WatchdogOptions;
  readonly #d: WatchdogDeps;
  readonly #sched: Scheduler;
  readonly #fetch: typeof fetch;
  readonly #log: Logger;
  #timer: unknown = null;
  #inFlight: Promise<BeatRecord> | null = null;
  #stats: WatchdogStats = {
    sent: 0,
    failSignals: 0,
    withheld: 0,
    receiverErrors: 0,
    overlaps: 0,
    consecutiveReceiverErrors: 0,
    lastSentAt: null,
    lastOutcome: null,
  };
  #lastFailing = '';

  constructor(opts: WatchdogOptions, deps: WatchdogDeps) {
    if (opts.onUnhealthy === 'fail' && !opts.failUrl) throw new Error('watchdog: onUnhealthy "fail" needs a failUrl (this URL has no known failure form)');
    this.#o = opts;
    this.#d = deps;
    this.#sched = deps.scheduler ?? globalScheduler;
    this.#fetch = deps.fetch ?? fetch;
    this.#log = deps.logger.child({ component: 'watchdog' });
  }

  /** Beat now, then every `everyMs`. Idempotent. */
  start(): void {
    if (this.#timer !== null) return;
    this.#log.info(
      { target: safeTarget(this.#o.url.reveal()), everyMs: this.#o.everyMs, method: this.#o.method, onUnhealthy: this.#o.onUnhealthy },
      'watchdog: heartbeat started',
    );
    this.#timer = this.#sched.setInterval(() => void this.tick(), this.#o.everyMs);
    void this.tick();
  }

  /** Stop the interval and wait for a beat in flight. Sends nothing more (a stopped service is silent). */
  async stop(): Promise<void> {
    if (this.#timer !== null) this.#sched.clearInterval(this.#timer);
    this.#timer = null;
    await this.#inFlight?.catch(() => undefined);
  }

  stats(): WatchdogStats {
    return { ...this.#stats };
  }

  /**
   * For /readyz: degraded (never unready) while the receiver is unreachable — taking quietwatch out
   * of rotation would not bring the receiver back.
   */
  readiness(): { ok: true; degraded?: true; detail: Record<string, unknown> } {
    const s = this.#stats;
    const degraded = s.consecutiveReceiverErrors > 0;
    return {
      ok: true,
      ...(degraded ? { degraded: true as const } : {}),
      detail: { target: safeTarget(this.#o.url.reveal()), lastSentAt: s.lastSentAt, consecutiveReceiverErrors: s.consecutiveReceiverErrors, lastOutcome: s.lastOutcome?.outcome ?? null },
    };
  }

  /** One beat: read health, decide, send. Never throws. A beat still in flight makes this a no-op. */
  async tick(): Promise<BeatRecord> {
    if (this.#inFlight) {
      this.#stats.overlaps++;
      const r: BeatRecord = { at: this.#d.clock.now(), outcome: 'skipped-overlap' };
      this.#record(r);
      return r;
    }
    const p = this.#beat().catch((err: unknown): BeatRecord => {
      this.#log.error({ err }, 'watchdog: beat failed unexpectedly');
      return { at: this.#d.clock.now(), outcome: 'receiver-error', error: String(err) };
    });
    this.#inFlight = p;
    try {
      return await p;
    } finally {
      this.#inFlight = null;
    }
  }

  async #beat(): Promise<BeatRecord> {
    const at = this.#d.clock.now();
    const health = await this.#health();
    const decision = decideBeat(health, this.#o.onUnhealthy === 'fail');
    const failingKey = decision.kind === 'ok' ? '' : decision.failing.join(',');
    if (failingKey !== this.#lastFailing) {
      if (failingKey) this.#log.error({ failing: decision.kind === 'ok' ? [] : decision.failing, health }, `watchdog: ${failingKey} failing; ${decision.kind === 'fail' ? 'sending the failure signal' : 'heartbeat withheld'}`);
      else this.#log.info('watchdog: every component healthy again; heartbeat resumed');
      this.#lastFailing = failingKey;
    }
    if (decision.kind === 'withhold') {
      this.#stats.withheld++;
      return this.#record({ at, outcome: 'withheld', failing: decision.failing });
    }
    const url = decision.kind === 'ok' ? this.#o.url : this.#o.failUrl!;
    const r = await this.#send(url, decision.body);
    if (r.ok) {
      if (decision.kind === 'ok') {
        this.#stats.sent++;
        this.#stats.lastSentAt = at;
      } else this.#stats.failSignals++;
      if (this.#stats.consecutiveReceiverErrors > 0) this.#log.info({ after: this.#stats.consecutiveReceiverErrors }, 'watchdog: receiver reachable again');
      this.#stats.consecutiveReceiverErrors = 0;
      return this.#record({ at, outcome: decision.kind === 'ok' ? 'sent' : 'fail-sent', status: r.status, latencyMs: r.latencyMs, ...(decision.kind === 'fail' ? { failing: decision.failing } : {}) });
    }
    this.#stats.receiverErrors++;
    this.#stats.consecutiveReceiverErrors++;
    this.#log.warn(
      { target: safeTarget(url.reveal()), status: r.status, code: r.code, consecutive: this.#stats.consecutiveReceiverErrors },
      `watchdog: the heartbeat receiver did not accept the ${decision.kind === 'ok' ? 'heartbeat' : 'failure signal'}: ${r.error}`,
    );
    return this.#record({ at, outcome: 'receiver-error', error: r.error, ...(r.status !== undefined ? { status: r.status } : {}), latencyMs: r.latencyMs });
  }

  /** Health within the request timeout; a throw or a hang is a failing "health" component. */
  async #health(): Promise<WatchdogHealth> {
    let timer: unknown;
    try {
      return await Promise.race([
        Promise.resolve().then(() => this.#d.health()),
        new Promise<never>((_, reject) => {
          timer = this.#sched.setTimeout(() => reject(new Error(`no answer within ${this.#o.timeoutMs} ms`)), this.#o.timeoutMs);
        }),
      ]);
    } catch (err) {
      const detail = `health check failed: ${(err as Error)?.message ?? String(err)}`;
      return { loop: { ok: false, detail }, store: { ok: false, detail }, notifiers: { ok: false, detail } };
    } finally {
      if (timer !== undefined) this.#sched.clearTimeout(timer);
    }
  }

  async #send(url: Secret, body: string): Promise<{ ok: boolean; status?: number; code?: string; error: string; latencyMs: number }> {
    const started = this.#d.clock.now();
    const ac = new AbortController();
    const timer = this.#sched.setTimeout(() => ac.abort(), this.#o.timeoutMs);
    try {
      const init: RequestInit = { method: this.#o.method, signal: ac.signal, headers: { 'user-agent': 'quietwatch-watchdog' } };
      if (this.#o.method === 'POST') {
        init.body = body;
        (init.headers as Record<string, string>)['content-type'] = 'text/plain; charset=utf-8';
      }
      const res = await this.#fetch(url.reveal(), init);
      await res.arrayBuffer().catch(() => undefined);
      const latencyMs = this.#d.clock.now() - started;
      return res.ok ? { ok: true, status: res.status, error: '', latencyMs } : { ok: false, status: res.status, code: `HTTP_${res.status}`, error: `HTTP ${res.status}`, latencyMs };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const code = ac.signal.aborted ? 'TIMEOUT' : (e.cause?.code ?? e.name ?? 'ERROR');
      // Only the code: a fetch error's message can carry the URL, and the URL is the secret.
      return { ok: false, code, error: ac.signal.aborted ? `no answer within ${this.#o.timeoutMs} ms` : `request failed (${code})`, latencyMs: this.#d.clock.now() - started };
    } finally {
      this.#sched.clearTimeout(timer);
    }
  }

  #record(r: BeatRecord): BeatRecord {
    this.#stats.lastOutcome = r;
    this.#d.onBeat?.(r);
    return r;
  }
}
