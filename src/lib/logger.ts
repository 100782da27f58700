import { pino, type Logger } from 'pino';

export type { Logger };

/** Query parameters whose values are secrets: never logged. */
const SECRET_QUERY = /([?&;](?:token|access_token|api_key|apikey|key|secret|password)=)[^&#\s"']*/gi;

/** `/?token=abc&x=1` -> `/?token=<secret>&x=1`. Anything not a string passes through. */
export function redactUrl<T>(url: T): T {
  return (typeof url === 'string' ? url.replace(SECRET_QUERY, '$1<secret>') : url) as T;
}

/** Redact secret query values in any string of an error (message, stack, url, nested cause). */
function errSerializer(err: unknown): unknown {
  const out = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
  if (!out || typeof out !== 'object') return out;
  for (const [k, v] of Object.entries(out)) {
    if (typeof v === 'string') out[k] = redactUrl(v);
  }
  return out;
}

function reqSerializer(req: unknown): unknown {
  if (!req || typeof req !== 'object') return req;
  const r = req as { method?: string; url?: string; headers?: Record<string, unknown>; id?: unknown };
  return { id: r.id, method: r.method, url: redactUrl(r.url) };
}

/** JSON logs. Child loggers carry `check`, `probe_id`, `incident_id`. Secrets print as <secret>. */
export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      level: opts.level ?? process.env.QUIETWATCH_LOG_LEVEL ?? 'info',
      base: { service: 'quietwatch' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['*.token', '*.authorization', 'headers.authorization', '*.routingKey', '*.apiKey'], censor: '<secret>' },
      // A `?token=` (office screens) never reaches the log, whichever field carries the URL.
      serializers: { url: redactUrl, req: reqSerializer, request: reqSerializer, err: errSerializer, error: errSerializer },
      hooks: {
        logMethod(args, method) {
          // ... and not through the message text either.
          for (let i = 0; i < args.length; i++) if (typeof args[i] === 'string') args[i] = redactUrl(args[i]);
          return method.apply(this, args as Parameters<typeof method>);
        },
      },
    },
    opts.destination as never,
  );
}

export const silentLogger = (): Logger => pino({ level: 'silent' });

type Level = 'fatal' | 'error' | 'warn' | 'info';

type Lazy<T> = T | (() => T);
const lazy = <T>(x: Lazy<T>): T => (typeof x === 'function' ? (x as () => T)() : x);

/**
 * Lines that come one per check (a page decided, a warning): in an outage storm 100,000 of them in
 * a few seconds cost more than the alerting itself and bury the story. Per kind of line and per turn
 * of the event loop, the first `limit` are logged as they are; the rest go at debug, and at the end
 * of the turn one summary line at the same level says how many there were and names their checks:
 * `{ burst: 'PAGE', count: 980, checks: [...] }` "PAGE 980 more checks (storm: one line for the
 * rest of this batch; each at debug)". Outside storms nothing changes.
 */
export class BurstLog {
  readonly #log: Logger;
  readonly #limit: number;
  readonly #kinds = new Map<string, { level: Level; seen: number; checks: string[]; fields: Record<string, unknown> }>();
  #queued = false;

  readonly #listMax: number;

  constructor(logger: Logger, opts: { limit?: number; listMax?: number } = {}) {
    this.#log = logger;
    this.#limit = opts.limit ?? BURST_LOG_LIMIT;
    this.#listMax = opts.listMax ?? BURST_LIST_MAX;
  }

  /**
   * `kind` groups the lines summarised together (e.g. `PAGE`); `fields` of the first one are kept in
   * the summary. Fields and message may be functions: a storm's 100,000 lines are mostly summarised,
   * and building each one's fields (dates as ISO strings, the message) cost more than the summary.
   */
  line(level: Level, kind: string, check: string, fields: Lazy<Record<string, unknown>>, message: Lazy<string>): void {
    let k = this.#kinds.get(kind);
    if (!k) {
      this.#kinds.set(kind, (k = { level, seen: 0, checks: [], fields: {} }));
      if (!this.#queued) {
        this.#queued = true;
        setImmediate(() => this.flush());
      }
    }
    k.seen++;
    if (k.seen <= this.#limit) {
      this.#log[level]({ check, ...lazy(fields) }, lazy(message));
      return;
    }
    const debug = this.#log.isLevelEnabled('debug');
    const f = k.checks.length === 0 || debug ? lazy(fields) : undefined;
    if (k.checks.length === 0) k.fields = f!;
    k.checks.push(check);
    if (debug) this.#log.debug({ check, ...f }, lazy(message));
  }

  /** Write the summary lines of this turn (called at its end; tests may call it). */
  flush(): void {
    this.#queued = false;
    const kinds = [...this.#kinds];
    this.#kinds.clear();
    for (const [kind, k] of kinds) {
      if (!k.checks.length) continue;
      // A summary names at most listMax checks: 100,000 names were one 0.9 MB line at start-up,
      // past what log shippers take (CloudWatch and Loki refuse or cut lines of 256 KB).
      const over = k.checks.length - this.#listMax;
      this.#log[k.level](
        { burst: kind, count: k.checks.length, total: k.seen, first: k.fields, checks: over > 0 ? k.checks.slice(0, this.#listMax) : k.checks, ...(over > 0 ? { checksNotListed: over } : {}) },
        `${kind} ${k.checks.length.toLocaleString('en')} more checks (storm: one line for the rest of this batch; each at debug)`,
      );
    }
  }
}

/** Lines of one kind logged one by one per turn of the event loop before a storm is summarised. */
export const BURST_LOG_LIMIT = 20;
/** A summary line names at most this many checks (the rest are counted). */
export const BURST_LIST_MAX = 1000;
