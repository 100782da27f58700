import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import SlowFirstSequencer from './test/helpers/sequencer.ts';

// Most of the suite's wall time is real processes waiting on real time (a lease lapsing, a database
// down for 60 s, a CLI walkthrough): such files use little CPU, so more files run at once than there
// are cores (vitest's default is cores - 1: one file at a time on a 2-core machine).
// QW_TEST_WORKERS overrides. Files share a worker's module cache (isolate: false): see
// test/helpers/between-files.ts for what is reset between them.
const workers = Number(process.env.QW_TEST_WORKERS) || Math.max(8, availableParallelism() * 2);

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    isolate: false,
    setupFiles: ['test/helpers/between-files.ts'],
    globalSetup: ['test/helpers/cli-bundle.ts'],
    maxWorkers: workers,
    sequence: { sequencer: SlowFirstSequencer },
  },
});
