/**
 * Issue 16 item 4: in the default no-token mode the API is open on loopback, so whatever a web
 * page can send must be refused: cross-site writes (text/plain "simple requests", forms), and
 * any Host that is not this server (DNS rebinding).
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Running } from '../helpers/service.ts';

let s: Running;
let port: number;
beforeAll(async () => {
  s = await startService(`checks:\n  - { name: X, stream: pay, quietAfter: 30s, pageAfter: 2m }\n`);
  port = Number(new URL(s.url).port);
});
afterAll(() => s?.close());

function send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: Record<string, unknown>; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        let parsed: any = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          /* text */
        }
        resolve({ status: res.statusCode!, headers: res.headers, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const evil = { origin: 'http://evil.example', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors' };
const lastEventAt = async () => (await s.fetch('/v1/checks/X')).body.lastEventAt;

describe('no-token mode refuses what a web page could send', () => {
  it('a cross-origin text/plain POST to /v1/events is 403 and nothing is ingested', async () => {
    const before = await lastEventAt();
    const r = await send('POST', '/v1/events', { ...evil, 'content-type': 'text/plain;charset=UTF-8' }, JSON.stringify([{ stream: 'pay' }]));
    expect(r.status).toBe(403);
    expect(r.body).toMatchObject({ error: 'cross_site', field: 'sec-fetch-site' });
    expect(await lastEventAt()).toBe(before);
  });

  it('a cross-origin POST with only an Origin (older browsers) is 403', async () => {
    const r = await send('POST', '/v1/events', { origin: 'http://evil.example', 'content-type': 'text/plain' }, JSON.stringify([{ stream: 'pay' }]));
    expect(r).toMatchObject({ status: 403, body: { error: 'cross_site', field: 'origin' } });
    const nul = await send('POST', '/v1/events', { origin: 'null', 'content-type': 'application/json' }, JSON.stringify([{ stream: 'pay' }]));
    expect(nul.status).toBe(403);
  });

  it('a cross-origin text/plain POST to /v1/checks/X/pause is 403 and the check is not paused', async () => {
    const r = await send('POST', '/v1/checks/X/pause', { ...evil, 'content-type': 'text/plain' }, '');
    expect(r).toMatchObject({ status: 403, body: { error: 'cross_site' } });
    expect((await s.fetch('/v1/checks/X')).body.status).not.toBe('paused');
  });

  it('a non-JSON write without Origin (an HTML form, curl -d) is 415 naming the content type', async () => {
    const form = await send('POST', '/v1/checks/X/pause', { 'content-type': 'application/x-www-form-urlencoded' }, 'a=1');
    expect(form).toMatchObject({ status: 415, body: { error: 'unsupported_media_type', field: 'content-type' } });
    const text = await send('POST', '/v1/events', { 'content-type': 'text/plain' }, JSON.stringify([{ stream: 'pay' }]));
    expect(text.status).toBe(415);
    expect(text.body.message).toMatch(/application\/json/);
    expect((await s.fetch('/v1/checks/X')).body.status).not.toBe('paused');
  });

  it('a foreign Host (DNS rebinding) is 421 JSON, for reads and writes', async () => {
    for (const host of ['evil.example', `evil.example:${port}`, `rebind.127.0.0.1.nip.io:${port}`, '10.0.0.8']) {
      const get = await send('GET', '/v1/checks', { host });
      expect(get, host).toMatchObject({ status: 421, body: { error: 'misdirected_request', field: 'host' } });
      const post = await send('POST', '/v1/checks/X/pause', { host, 'content-type': 'application/json' }, '{}');
      expect(post.status).toBe(421);
    }
    expect((await s.fetch('/v1/checks/X')).body.status).not.toBe('paused');
  });

  it('loopback names, same-origin browser writes and plain JSON clients are served', async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'localhost', `[::1]:${port}`]) {
      expect((await send('GET', '/v1/checks', { host })).status, host).toBe(200);
    }
    const same = await send(
      'POST',
      '/v1/events',
      { origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' },
      JSON.stringify([{ stream: 'pay' }]),
    );
    expect(same.status).toBe(202);
    expect((await send('POST', '/v1/events', { 'content-type': 'application/x-ndjson' }, '{"stream":"pay"}\n')).status).toBe(202);
    expect((await send('POST', '/v1/streams/pay/ping', {})).status).toBe(202);
    expect((await send('POST', '/v1/checks/X/pause', { 'sec-fetch-site': 'none' })).status).toBe(200);
    expect((await send('POST', '/v1/checks/X/resume', { 'content-type': 'application/json' }, '{}')).status).toBe(200);
  });
});

describe('with tokens the guard is off (a page cannot hold a bearer token)', () => {
  let t: Running;
  beforeAll(async () => {
    t = await startService(`auth: { tokens: [{ name: ops, token: admin-token-0123456789abc, scopes: [admin] }] }\nchecks:\n  - { name: X, quietAfter: 30s, pageAfter: 2m }\n`);
  });
  afterAll(() => t?.close());

  it('any Host is served with a token', async () => {
    const r = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: Number(new URL(t.url).port), path: '/v1/checks', headers: { host: 'quietwatch.internal:8080', authorization: 'Bearer admin-token-0123456789abc' } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end();
    });
    expect(r).toBe(200);
  });
});
