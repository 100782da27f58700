/** /readyz names checks whose pages reach nobody: the first 20 and a count, not one line per check. */
import { afterAll, describe, expect, it } from 'vitest';
import { startService, type Running } from '../helpers/service.ts';

let s: Running | undefined;
afterAll(async () => s?.close());

describe('/readyz routing', () => {
  it('lists 20 unrouted checks and counts the rest', async () => {
    const checks = Array.from({ length: 25 }, (_, i) => `  - { name: c${i}, quietAfter: 1h, pageAfter: 2h }`).join('\n');
    s = await startService(`checks:\n${checks}\n`);
    const r = await s.inject('/readyz');
    const detail = r.body.components.routing.detail as string[];
    expect(detail).toHaveLength(21);
    expect(detail[0]).toMatch(/^pages for c0 reach nobody/);
    expect(detail[20]).toBe('and 5 more checks whose pages reach nobody');
  });
});
