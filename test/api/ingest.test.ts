import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Running } from '../helpers/service.ts';

const yaml = `
server: { bodyLimit: 200000 }
checks:
  - { name: visa, stream: auth, match: { scheme: visa }, quietAfter: 30s, pageAfter: 2m }
  - { name: mc, stream: auth, match: { scheme: [mastercard, maestro] }, quietAfter: 30s, pageAfter: 2m }
  - { name: cron, quietAfter: 1h, pageAfter: 2h }
`;

let s: Running;
beforeAll(async () => {
  s = await startService(yaml);
});
afterAll(() => s.close());

const post = (body: string, ct = 'application/json') => s.fetch('/v1/events', { method: 'POST', body, headers: { 'content-type': ct } });

describe('POST /v1/events', () => {
  it('accepts a JSON array and routes events by attribute match', async () => {
    const when = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000).toISOString().replace('.000Z', 'Z');
    const r = await post(JSON.stringify([
      { stream: 'auth', attributes: { scheme: 'visa' } },
      { stream: 'auth', time: when, id: 'tx1', attributes: { scheme: 'maestro' } },
    ]));
    expect(r).toMatchObject({ status: 202, body: { accepted: 2 } });
    const visa = await s.fetch('/v1/checks/visa');
    expect(visa.body.status).toBe('ok');
    const mc = await s.fetch('/v1/checks/mc');
    expect(mc.body.status).toBe('ok');
    expect(mc.body.lastEventTime).toBe(Date.parse(when));
    expect(mc.body.flips[0]).toMatchObject({ from: 'unknown', to: 'ok', reason: 'events received' });
  });

  it('accepts NDJSON and epoch milliseconds', async () => {
    const r = await post(`{"stream":"auth","time":${Date.now()},"attributes":{"scheme":"visa"}}\n{"stream":"other"}\n`, 'application/x-ndjson');
    expect(r).toMatchObject({ status: 202, body: { accepted: 2 } });
  });

  it.each([
    ['malformed JSON', '[{"stream": "auth",', /malformed JSON/, {}],
    ['a missing stream', '[{"time": 1764400000000}]', /field "stream": is required/, { field: 'stream', index: 0 }],
    ['a stream of the wrong type', '[{"stream": 42}]', /field "stream"/, { field: 'stream' }],
    ['a bad time', '[{"stream":"auth","time":"yesterday"}]', /RFC 3339/, { field: 'time' }],
    ['a date that does not exist', '[{"stream":"auth","time":"2026-02-30T00:00:00Z"}]', /not a calendar date/, { field: 'time' }],
    ['epoch seconds instead of ms', '[{"stream":"auth","time":1764400000}]', /looks like seconds/, { field: 'time' }],
    ['attributes that are not an object', '[{"stream":"auth","attributes":[1]}]', /attributes/, { field: 'attributes' }],
    ['an unknown field', '[{"stream":"auth","atributes":{}}]', /not a known field/, { field: 'atributes' }],
    ['an empty array', '[]', /no events/, {}],
    ['an empty body', '', /empty/, {}],
  ])('rejects %s with 400 naming the problem, and accepts nothing', async (_d, body, msg, extra) => {
    const before = (await s.fetch('/v1/checks/cron')).body.lastEventAt;
    const r = await post(body);
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('invalid_events');
    expect(r.body.message).toMatch(msg);
    expect(r.body).toMatchObject({ accepted: 0, ...extra });
    expect((await s.fetch('/v1/checks/cron')).body.lastEventAt).toBe(before);
  });

  it('rejects NDJSON with one bad line, names the line, and accepts none of the good ones', async () => {
    const r = await post('{"stream":"cron"}\n{"stream":"cron"}\n{"stream":\n{"stream":"cron"}\n', 'application/x-ndjson');
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ line: 3, accepted: 0 });
    expect(r.body.message).toMatch(/^line 3: malformed JSON/);
    expect((await s.fetch('/v1/checks/cron')).body.status).toBe('unknown');
  });

  it('answers 413 for a body over the limit, and the process keeps serving', async () => {
    const big = JSON.stringify(Array.from({ length: 5000 }, () => ({ stream: 'cron', attributes: { pad: 'x'.repeat(50) } })));
    const r = await post(big);
    expect(r.status).toBe(413);
    expect(r.body.error).toBe('payload_too_large');
    expect((await s.fetch('/healthz')).status).toBe(200);
    expect((await s.fetch('/v1/checks/cron')).body.status).toBe('unknown');
  });

  it('POST /v1/streams/{stream}/ping records one heartbeat', async () => {
    const r = await s.fetch('/v1/streams/cron/ping', { method: 'POST' });
    expect(r).toMatchObject({ status: 202, body: { accepted: 1 } });
    expect((await s.fetch('/v1/checks/cron')).body.status).toBe('ok');
    const bad = await s.fetch('/v1/streams/cron/ping', { method: 'POST', body: '{"time":"nope"}', headers: { 'content-type': 'application/json' } });
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe('time');
  });

  it('serves the OpenAPI document and JSON 404s', async () => {
    const doc = await s.fetch('/openapi.json');
    expect(doc.body.openapi).toBe('3.1.0');
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/v1/events', '/v1/checks/{name}', '/v1/checks/{name}/pause']));
    const nf = await s.fetch('/v1/checks/nope');
    expect(nf).toMatchObject({ status: 404, body: { error: 'not_found', field: 'name' } });
  });

  it('pause and resume a check', async () => {
    expect((await s.fetch('/v1/checks/visa/pause', { method: 'POST' })).body.status).toBe('paused');
    expect((await s.fetch('/v1/checks/visa/resume', { method: 'POST' })).body.status).toBe('unknown');
  });
});
