/**
 * Scheduled probes: a check may also probe on a cron schedule (in a time zone) even while
 * traffic flows, to prove the probe path itself still works. node-cron does the timing; the
 * callback only names the check — the engine decides (a `probe-request` input).
 */
import cron, { type ScheduledTask } from 'node-cron';
import { PermanentError } from '../lib/errors.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';

export interface CronSchedule {
  cron: string;
  /** IANA zone, e.g. Europe/Berlin. Default: the process's zone. */
  timezone?: string;
}

export class ProbeScheduler {
  readonly #onFire: (check: string) => void;
  readonly #log: Logger;
  readonly #tasks = new Map<string, ScheduledTask>();

  constructor(opts: { onFire: (check: string) => void; logger?: Logger }) {
    this.#onFire = opts.onFire;
    this.#log = opts.logger ?? silentLogger();
  }

  /** Schedule (or reschedule) a check's probes. Throws on a bad expression. */
  add(check: string, schedule: CronSchedule): void {
    if (!cron.validate(schedule.cron)) throw new PermanentError('PROBE_BAD_CRON', `check ${check}: not a cron expression: ${schedule.cron}`);
    this.remove(check);
    const task = cron.schedule(
      schedule.cron,
      () => {
        this.#log.info({ check, cron: schedule.cron, timezone: schedule.timezone }, 'scheduled probe due');
        try {
          this.#onFire(check);
        } catch (err) {
          this.#log.error({ check, error: err instanceof Error ? err.message : String(err) }, 'scheduled probe callback threw');
        }
      },
      { name: `probe:${check}`, timezone: schedule.timezone, noOverlap: true, unref: true, suppressMissedWarning: true },
    );
    this.#tasks.set(check, task);
  }

  remove(check: string): void {
    const t = this.#tasks.get(check);
    if (!t) return;
    void t.destroy();
    this.#tasks.delete(check);
  }

  /** When the check's next scheduled probe is due (undefined when it has no schedule). */
  nextRun(check: string): Date | undefined {
    return this.#tasks.get(check)?.getNextRun() ?? undefined;
  }

  checks(): string[] {
    return [...this.#tasks.keys()];
  }

  stop(): void {
    for (const check of [...this.#tasks.keys()]) this.remove(check);
  }
}
