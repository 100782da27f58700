/**
 * Test files in an order that keeps the wall time short on a small machine: the long real-time
 * files (PostgreSQL failover, the 60 s outage, the CLI walkthrough) start first, so they overlap
 * with everything else instead of running last on their own. vitest's own order needs a results
 * cache, which a fresh checkout (CI) does not have; there it orders by file size.
 */
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** Longest first, as measured on the 2-core machine. */
export const SLOW_FIRST = [
  'test/pg/replicas-a.test.ts',
  'test/pg/replicas-b.test.ts',
  'test/pg/replica-pgdown.test.ts',
  'test/pg/replica-takeover.test.ts',
  'test/pg/replica-sigstop.test.ts',
  'test/e2e/sandbox-default.test.ts',
  'test/alerts/pages-checklist.e2e.test.ts',
  'test/image/image.test.ts',
  'test/backtest/shared-traces.test.ts',
  'test/learn/model.test.ts',
  'test/e2e/influx-service.test.ts',
  'test/storm/storm.test.ts',
  'test/restart.test.ts',
];

export default class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const base = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const i = SLOW_FIRST.indexOf(relative(this.ctx.config.root, f.moduleId).replace(/\\/g, '/'));
      return i < 0 ? SLOW_FIRST.length : i;
    };
    return base.map((f, i) => ({ f, i, r: rank(f) })).sort((a, b) => a.r - b.r || a.i - b.i).map((x) => x.f);
  }
}
