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
