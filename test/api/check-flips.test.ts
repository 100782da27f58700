import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Running } from '../helpers/service.ts';

// A deadline's flip changes the state in memory first and is committed on the writer thread a few ms
// later: GET /v1/checks/{name} must never show a status whose flip it does not list.
const yaml = `
checks:
  - { name: edge, stream: edge, quietAfter: 300ms, pageAfter: 600ms }
`;

let s: Running;
beforeAll(async () => {
  s = await startService(yaml);
});
afterAll(() => s.close());

describe('GET /v1/checks/{name} right after a timer flip', () => {
  it('lists the flip that gave the status it shows', async () => {
    expect((await s.fetch('/v1/events', { method: 'POST', body: JSON.stringify([{ stream: 'edge' }]) })).status).toBe(202);
    const seen = new Set<string>();
    const until = Date.now() + 5_000;
    while (Date.now() < until && !seen.has('down')) {
      const r = await s.fetch('/v1/checks/edge');
      expect(r.status).toBe(200);
      seen.add(r.body.status);
      expect(r.body.flips[0]?.to).toBe(r.body.status);
    }
    expect([...seen]).toEqual(expect.arrayContaining(['ok', 'quiet', 'down']));
  });
});
