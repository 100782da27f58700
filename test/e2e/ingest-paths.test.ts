/**
 * Every way in reaches the checks through the one ingest path of the real service: /v1/events,
 * /v1/streams/{stream}/ping, and InfluxDB line protocol on /api/v2/write and /write (Telegraf).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Running } from '../helpers/service.ts';

const TOKEN = 'ingest-token-0123456789abcdef';
const READ = 'read-token-0123456789abcdef';
let s: Running;
beforeAll(async () => {
  s = await startService(`
auth:
  tokens:
    - { name: feeder, token: ${TOKEN}, scopes: [ingest] }
    - { name: screen, token: ${READ}, scopes: [read] }
checks:
  - { name: events, quietAfter: 1h, pageAfter: 2h }
  - { name: ping, quietAfter: 1h, pageAfter: 2h }
  - { name: telegraf-v2, stream: cpu, quietAfter: 1h, pageAfter: 2h, match: { host: a } }
  - { name: telegraf-v1, stream: disk, quietAfter: 1h, pageAfter: 2h }
`);
});
afterAll(() => s?.close());

describe('one ingest path for every way in', () => {
  it('moves each check from unknown to ok, and counts the events once in /metrics', async () => {
    const post = (path: string, body: string, type = 'application/json') => s.fetch(path, { method: 'POST', body, token: TOKEN, headers: { 'content-type': type } });
    expect((await post('/v1/events', JSON.stringify([{ stream: 'events' }]))).status).toBe(202);
    expect((await post('/v1/streams/ping/ping', '')).status).toBe(202);
    const now = Date.now();
    expect((await post('/api/v2/write?org=o&bucket=b&precision=ms', `cpu,host=a usage=1 ${now}\ncpu,host=b usage=2 ${now}`, 'text/plain')).status).toBe(204);
    expect((await post('/write?db=telegraf&precision=ms', `disk,host=a free=1 ${now}`, 'text/plain')).status).toBe(204);
    for (const name of ['events', 'ping', 'telegraf-v2', 'telegraf-v1']) {
      expect((await s.fetch(`/v1/checks/${name}`, { token: READ })).body.status, name).toBe('ok');
    }
    const metrics = (await s.fetch('/metrics', { token: READ })).body as string;
    expect(metrics).toMatch(/quietwatch_events_total\{stream="cpu",synthetic="false"\} 2/);
    expect(metrics).toMatch(/quietwatch_events_total\{stream="disk",synthetic="false"\} 1/);
  });
});
