/**
 * Test files share a worker process (isolate: false in vitest.config.ts: loading Fastify, zod and
 * the service once per worker instead of once per file takes ~15% of the suite's CPU away). What a
 * file may change in the process is put back after it, so no file sees another's fake clock, mocks
 * or environment.
 */
import { afterAll, vi } from 'vitest';

afterAll(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  vi.unstubAllGlobals();
});
