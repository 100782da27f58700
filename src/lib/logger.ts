import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs. Child loggers carry `check`, `probe_id`, `incident_id`. Secrets print as <secret>. */
export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      level: opts.level ?? process.env.QUIETWATCH_LOG_LEVEL ?? 'info',
      base: { service: 'quietwatch' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['*.token', '*.authorization', 'headers.authorization', '*.routingKey', '*.apiKey'], censor: '<secret>' },
    },
    opts.destination as never,
  );
}

export const silentLogger = (): Logger => pino({ level: 'silent' });
