/**
 * Issue 16 item 5: a `?token=` is never written to the log, whichever way the URL reaches it
 * (the 5xx error log, a request serializer, an error's message, the message text).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { createLogger, redactUrl } from '../../src/lib/logger.ts';
import { createService, type Service } from '../../src/main.ts';
import { tempDir } from '../helpers/service.ts';

const READ = 'read-token-SECRET-0123456789';
const lines: string[] = [];
const capture = new Writable({
  write(chunk, _enc, cb) {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    cb();
  },
});

let svc: Service;
let url: string;
let dir: string;
beforeAll(async () => {
  dir = tempDir();
  const config = parseConfig(
    `auth: { tokens: [{ name: screen, token: ${READ}, scopes: [read] }] }\nchecks:\n  - { name: X, quietAfter: 30s, pageAfter: 2m }\n`,
    '<test>',
    process.env,
  );
  config.server.port = 0;
  config.store.path = join(dir, 'qw.sqlite');
  svc = await createService(config, { logger: createLogger({ level: 'debug', destination: capture }) });
  url = await svc.listen();
});
afterAll(async () => {
  await svc?.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

describe('?token= never reaches the log', () => {
  it('a request that ends in 5xx is logged with the token redacted', async () => {
    // Break the store under the running service: reading a check's flips now throws -> 500.
    svc.store.sqlite()!.close();
    const r = await fetch(`${url}/v1/checks/X?token=${READ}&flips=5`, { headers: { authorization: `Bearer ${READ}` } });
    expect(r.status).toBe(500);
    expect(await r.json()).toMatchObject({ error: 'internal' });
    const board = await fetch(`${url}/v1/board?token=${READ}`);
    expect(board.status).toBeLessThan(600);
    await new Promise((res) => setTimeout(res, 100));
    const failed = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'request failed');
    expect(failed, lines.join('\n')).toBeDefined();
    expect(failed.url).toBe('/v1/checks/X?token=<secret>&flips=5');
    expect(lines.join('\n')).not.toContain(READ);
  });

  it('any logger field, error or message carrying the URL is redacted too', async () => {
    const log = svc.logger;
    const at = lines.length;
    log.info({ url: `/?token=${READ}` }, 'screen connected');
    log.info({ req: { method: 'GET', url: `/v1/board/stream?x=1&token=${READ}`, headers: { authorization: `Bearer ${READ}` } } }, 'stream');
    log.error({ err: new Error(`GET /?token=${READ} failed`) }, 'board failed');
    log.child({ component: 'http' }).warn(`slow client on /v1/board?token=${READ}`);
    const out = lines.slice(at).join('\n');
    expect(out).not.toContain(READ);
    expect(out.match(/<secret>/g)?.length).toBeGreaterThanOrEqual(4);
  });

  it('redactUrl keeps everything but the secret values', () => {
    expect(redactUrl('/v1/board?token=abc&theme=dark')).toBe('/v1/board?token=<secret>&theme=dark');
    expect(redactUrl('/x?a=1&TOKEN=abc')).toBe('/x?a=1&TOKEN=<secret>');
    expect(redactUrl('/x?tokens=1')).toBe('/x?tokens=1');
  });
});
