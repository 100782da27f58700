/**
 * A simulated card pipeline so the default config runs with no external account, and tests can
 * drive every path:
 *  - a traffic generator per stream: Poisson arrivals whose rate follows a day/night shape,
 *    driven by ONE timer for the next batch of arrivals (never one timer per event);
 *  - a test acquirer that accepts charges (deduplicated by idempotency key like a real one) and,
 *    after `acquirerDelayMs`, emits the synthetic transaction onto the check's stream carrying
 *    `attributes.probe_id`, `card_token` and `amount`;
 *  - a pipeline switch: healthy | quiet (no real traffic, probes still come through) |
 *    broken (everything swallowed) | acquirer-down (charges refused, and no real traffic: with the
 *    acquirer down no card transaction gets through).
 */
import { systemTimers, type Clock, type Timers as ClockTimers } from '../lib/clock.ts';
import { PermanentError } from '../lib/errors.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import type { ChargeRequest, ChargeResult } from '../probes/types.ts';

export const PIPELINE_MODES = ['healthy', 'quiet', 'broken', 'acquirer-down'] as const;
export type PipelineMode = (typeof PIPELINE_MODES)[number];
export const isPipelineMode = (v: unknown): v is PipelineMode => (PIPELINE_MODES as readonly unknown[]).includes(v);

export interface SandboxEvent {
  stream: string;
  time?: number;
  id?: string;
  attributes?: Record<string, string>;
}

/** The one-shot half of the one timer source (src/lib/clock.ts). */
export type Timers = Pick<ClockTimers, 'setTimeout' | 'clearTimeout'>;

export interface SandboxStream {
  stream: string;
  /** Arrivals per second at the daily peak. */
  ratePerSec: number;
  /** Rate at the night trough as a fraction of the peak (0..1). Default 0.1. */
  nightFactor?: number;
  /** Attributes to vary, each value picked uniformly per event, e.g. { scheme: ['visa', 'mastercard'] }. */
  attributes?: Record<string, string[]>;
}

export interface SandboxOptions {
  clock: Clock;
  emit: (events: SandboxEvent[]) => void;
  streams: SandboxStream[];
  /** How long the test acquirer takes to put a probe's transaction onto the stream. Default 2000. */
  acquirerDelayMs?: number;
  logger?: Logger;
  timers?: Timers;
  random?: () => number;
  /** Time zone whose local hour shapes the day/night rate. Default UTC. */
  timezone?: string;
  /** Arrivals are emitted in batches at most this often (each keeps its own time). Default 250. */
  batchMs?: number;
  mode?: PipelineMode;
}

export interface SandboxStats {
  mode: PipelineMode;
  trafficEmitted: number;
  charges: number;
  refused: number;
  probeTransactionsEmitted: number;
  probeTransactionsSwallowed: number;
  reversals: number;
}

/** The daily shape of the rate, 0..1: `nightFactor` at 04:00 local, 1 at 16:00 local. Pure. */
export function dayShape(hourOfDay: number, nightFactor: number): number {
  const f = Math.min(1, Math.max(0, nightFactor));
  return f + (1 - f) * (1 - Math.cos((2 * Math.PI * (hourOfDay - 4)) / 24)) / 2;
}

/** Local fractional hour of `t` in `timezone`. */
export function localHour(t: number, timezone: string): number {
  const parts = hourFormatter(timezone).formatToParts(new Date(t));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return (get('hour') % 24) + get('minute') / 60 + get('second') / 3600;
}
const formatters = new Map<string, Intl.DateTimeFormat>();
function hourFormatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hour: 'numeric', minute: 'numeric', second: 'numeric', hourCycle: 'h23' });
    formatters.set(tz, f);
  }
  return f;
}

interface Arrival {
  t: number;
  stream: SandboxStream;
}

export class Sandbox {
  readonly #clock: Clock;
  readonly #emit: (events: SandboxEvent[]) => void;
  readonly #streams: SandboxStream[];
  readonly #delay: number;
  readonly #log: Logger;
  readonly #timers: Timers;
  readonly #random: () => number;
  readonly #tz: string;
  readonly #batchMs: number;
  readonly #peakTotal: number;
  #mode: PipelineMode;
  #running = false;
  #trafficTimer: unknown;
  #next: Arrival | undefined;
  #pending = new Set<unknown>();
  #charges = new Map<string, ChargeResult>();
  #reversed = new Set<string>();
  #seq = 0;
  #stats = { trafficEmitted: 0, charges: 0, refused: 0, probeTransactionsEmitted: 0, probeTransactionsSwallowed: 0, reversals: 0 };

  constructor(opts: SandboxOptions) {
    this.#clock = opts.clock;
    this.#emit = opts.emit;
    this.#streams = [...opts.streams];
    this.#delay = opts.acquirerDelayMs ?? 2000;
    this.#log = opts.logger ?? silentLogger();
    this.#timers = opts.timers ?? systemTimers;
    this.#random = opts.random ?? Math.random;
    this.#tz = opts.timezone ?? 'UTC';
    this.#batchMs = opts.batchMs ?? 250;
    this.#mode = opts.mode ?? 'healthy';
    this.#peakTotal = this.#streams.reduce((a, s) => a + Math.max(0, s.ratePerSec), 0);
    hourFormatter(this.#tz); // fail fast on a bad time zone
  }

  mode(): PipelineMode {
    return this.#mode;
  }

  stats(): SandboxStats {
    return { mode: this.#mode, ...this.#stats };
  }

  /** The current rate of a stream (arrivals per second) under the day/night shape. */
  rateAt(stream: string, t: number = this.#clock.now()): number {
    const s = this.#streams.find((x) => x.stream === stream);
    if (!s) return 0;
    return s.ratePerSec * dayShape(localHour(t, this.#tz), s.nightFactor ?? 0.1);
  }

  setMode(mode: PipelineMode): PipelineMode {
    if (!isPipelineMode(mode)) throw new PermanentError('SANDBOX_BAD_MODE', `unknown pipeline mode: ${String(mode)}`);
    const previous = this.#mode;
    this.#mode = mode;
    if (previous !== mode) this.#log.info({ sandbox_mode: mode, previous }, `sandbox pipeline is now ${mode}`);
    if (this.#running) {
      if (this.#trafficFlows()) this.#armTraffic();
      else this.#stopTraffic();
    }
    return previous;
  }

  /** Start the traffic generator. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    if (this.#trafficFlows()) this.#armTraffic();
  }

  /** Stop everything: traffic and any probe transaction not yet emitted. */
  stop(): void {
    this.#running = false;
    this.#stopTraffic();
    for (const h of this.#pending) this.#timers.clearTimeout(h);
    this.#pending.clear();
  }

  // ---- the test acquirer -------------------------------------------------------------------

  /**
   * Charge the probe card. A repeat idempotency key returns the first result without a second
   * charge. On acceptance the synthetic transaction reaches `stream` after the acquirer delay,
   * unless the pipeline is broken by then.
   */
  async charge(req: ChargeRequest, opts: { stream?: string; cardToken?: string } = {}): Promise<ChargeResult> {
    const seen = this.#charges.get(req.idempotencyKey);
    if (seen) return seen;
    if (this.#mode === 'acquirer-down') {
      const r: ChargeResult = { outcome: 'refused', code: 'acquirer_down', message: 'sandbox acquirer is down: charge refused' };
      this.#charges.set(req.idempotencyKey, r);
      this.#stats.refused++;
      return r;
    }
    const stream = this.#streamFor(req, opts.stream);
    const n = ++this.#seq;
    const reference = `sbx_ch_${n}`;
    const r: ChargeResult = { outcome: 'accepted', reference };
    this.#charges.set(req.idempotencyKey, r);
    this.#stats.charges++;
    const event: SandboxEvent = {
      stream,
      id: `sbx_tx_${n}`,
      attributes: {
        probe_id: req.probeId,
        card_token: opts.cardToken ?? 'tok_sandbox_probe',
        amount: String(req.amountMinor),
        currency: req.currency,
        scheme: 'visa',
        synthetic: 'true',
      },
    };
    const h = this.#timers.setTimeout(() => {
      this.#pending.delete(h);
      if (this.#mode === 'broken') {
        this.#stats.probeTransactionsSwallowed++;
        this.#log.debug({ probe_id: req.probeId, stream }, 'sandbox (broken) swallowed a probe transaction');
        return;
      }
      this.#stats.probeTransactionsEmitted++;
      this.#send([{ ...event, time: this.#clock.now() }]);
    }, this.#delay);
    this.#pending.add(h);
    return r;
  }

  /** Refund / void a charge (idempotent). */
  async reverse(reference: string): Promise<void> {
    if (this.#reversed.has(reference)) return;
    this.#reversed.add(reference);
    this.#stats.reversals++;
  }

  #streamFor(req: ChargeRequest, configured?: string): string {
    const s = req.stream ?? configured ?? this.#streams.find((x) => x.stream === req.check)?.stream ?? (this.#streams.length === 1 ? this.#streams[0]!.stream : undefined);
    if (!s) throw new PermanentError('SANDBOX_NO_STREAM', `sandbox does not know which stream check ${req.check} watches; set the sandbox driver's stream`);
    return s;
  }

  #send(events: SandboxEvent[]): void {
    try {
      this.#emit(events);
    } catch (err) {
      this.#log.error({ error: err instanceof Error ? err.message : String(err), count: events.length }, 'sandbox emit failed');
    }
  }

  // ---- the traffic generator ---------------------------------------------------------------

  #trafficFlows(): boolean {
    return this.#mode === 'healthy';
  }

  #stopTraffic(): void {
    if (this.#trafficTimer !== undefined) this.#timers.clearTimeout(this.#trafficTimer);
    this.#trafficTimer = undefined;
    this.#next = undefined;
  }

  #armTraffic(): void {
    if (this.#trafficTimer !== undefined || this.#peakTotal <= 0) return;
    const now = this.#clock.now();
    this.#next ??= this.#nextArrival(now);
    this.#trafficTimer = this.#timers.setTimeout(() => this.#wake(), Math.max(this.#next.t - now, 0));
  }

  #wake(): void {
    this.#trafficTimer = undefined;
    if (!this.#running || !this.#trafficFlows()) return;
    const now = this.#clock.now();
    const batch: SandboxEvent[] = [];
    while (this.#next && this.#next.t <= now) {
      batch.push(this.#trafficEvent(this.#next));
      this.#next = this.#nextArrival(this.#next.t);
    }
    if (batch.length) {
      this.#stats.trafficEmitted += batch.length;
      this.#send(batch);
    }
    if (!this.#next) return;
    // at most one wake per batchMs; each event keeps its own arrival time
    this.#trafficTimer = this.#timers.setTimeout(() => this.#wake(), Math.max(this.#next.t - now, this.#batchMs));
  }

  /** Non-homogeneous Poisson by thinning: candidates at the total peak rate, kept with prob shape(t). */
  #nextArrival(from: number): Arrival {
    let t = from;
    for (;;) {
      const u = this.#random();
      t += (-Math.log(1 - u) / this.#peakTotal) * 1000;
      let pick = this.#random() * this.#peakTotal;
      let stream = this.#streams[this.#streams.length - 1]!;
      for (const s of this.#streams) {
        pick -= Math.max(0, s.ratePerSec);
        if (pick < 0) {
          stream = s;
          break;
        }
      }
      const keep = dayShape(localHour(t, this.#tz), stream.nightFactor ?? 0.1);
      if (this.#random() < keep) return { t: Math.round(t), stream };
    }
  }

  #trafficEvent(a: Arrival): SandboxEvent {
    const attributes: Record<string, string> = {
      card_token: `tok_${Math.floor(this.#random() * 1e9).toString(36)}`,
      amount: String(100 + Math.floor(this.#random() * 20_000)),
    };
    for (const [k, values] of Object.entries(a.stream.attributes ?? {})) {
      if (values.length) attributes[k] = values[Math.floor(this.#random() * values.length)]!;
    }
    return { stream: a.stream.stream, time: a.t, id: `sbx_tx_${++this.#seq}`, attributes };
  }
}
