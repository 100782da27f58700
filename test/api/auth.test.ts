import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { createService, StartupError } from '../../src/main.ts';
import { startService, type Running } from '../helpers/service.ts';

const INGEST = 'ingest-token-0123456789';
const READ = 'read-token-0123456789abc';
const ADMIN = 'admin-token-0123456789ab';

let s: Running;
beforeAll(async () => {
  s = await startService(
    `
auth:
  tokens:
    - { name: pipeline, token: "\${QW_INGEST}", scopes: [ingest] }
    - { name: screens, token: ${READ}, scopes: [read] }
checks:
  - { name: c1, quietAfter: 30s, pageAfter: 2m }
`,
    { env: { QW_INGEST: INGEST, QUIETWATCH_TOKENS: `admin=${ADMIN}` } },
  );
});
afterAll(() => s.close());

describe('bearer tokens with scopes', () => {
  it.each([
    ['no token', undefined, '/v1/checks', 'GET', 401],
    ['an unknown token', 'x'.repeat(24), '/v1/checks', 'GET', 401],
    ['an ingest token reading', INGEST, '/v1/checks', 'GET', 403],
    ['a read token reading', READ, '/v1/checks', 'GET', 200],
    ['a read token ingesting', READ, '/v1/streams/c1/ping', 'POST', 403],
    ['an ingest token ingesting', INGEST, '/v1/streams/c1/ping', 'POST', 202],
    ['a read token pausing', READ, '/v1/checks/c1/pause', 'POST', 403],
    ['an admin token (from env) pausing', ADMIN, '/v1/checks/c1/pause', 'POST', 200],
    ['an admin token reading', ADMIN, '/v1/checks', 'GET', 200],
    ['no token on /healthz', undefined, '/healthz', 'GET', 200],
  ])('%s -> %s', async (_d, token, path, method, status) => {
    const r = await s.fetch(path, { method, token });
    expect(r.status).toBe(status);
    if (status >= 400) expect(r.body.error).toMatch(/unauthorized|forbidden/);
  });

  it('rejects a malformed Authorization header', async () => {
    const r = await s.fetch('/v1/checks', { headers: { authorization: `Token ${READ}` } });
    expect(r.status).toBe(401);
    expect(r.body.message).toMatch(/Bearer/);
  });

  it('never returns a token in any response', async () => {
    const r = await s.fetch('/v1/checks', { token: ADMIN });
    expect(JSON.stringify(r.body)).not.toContain(ADMIN);
    const doc = await s.fetch('/openapi.json');
    expect(JSON.stringify(doc.body)).not.toContain(READ);
  });
});

describe('binding without tokens', () => {
  it('refuses to listen on a non-loopback address when no tokens are configured', async () => {
    const config = parseConfig('server: { host: 0.0.0.0 }\nchecks: []', '<t>', {});
    await expect(createService(config, { logger: silentLogger() })).rejects.toThrow(StartupError);
    await expect(createService(config, { logger: silentLogger() })).rejects.toThrow(/refusing to listen on 0.0.0.0 without API tokens/);
  });
  it('listens on any address once tokens exist', async () => {
    const config = parseConfig(`server: { host: 0.0.0.0, port: 0 }\nstore: { path: ":memory:" }\nauth: { tokens: [{ name: a, token: ${ADMIN}, scopes: [admin] }] }`, '<t>', {});
    const svc = await createService(config, { logger: silentLogger() });
    const address = await svc.listen();
    const port = new URL(address).port;
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/v1/checks`)).status).toBe(401);
    await svc.close();
  });
});
