/** A logger whose JSON lines are kept, parsed, for tests that read what was logged. */
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/lib/logger.ts';

export function captureJsonLines<Line = Record<string, unknown>>(level = 'info'): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l) as Line);
      cb();
    },
  });
  return { logger: createLogger({ level, destination }), lines };
}
