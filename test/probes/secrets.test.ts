/** No secret (API key, header value) appears in errors, stored records or logs. */
import Database from 'better-sqlite3';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/lib/clock.ts';
import { checkProbeSchema, probeDriverConfigSchema } from '../../src/probes/config.ts';
import { ProbeManager } from '../../src/probes/manager.ts';
import { createDrivers } from '../../src/probes/registry.ts';
import { SqliteProbeStore } from '../../src/probes/store-sqlite.ts';
import { ContractStripe } from '../contract/stripe.ts';
import { captureLogger } from './helpers.ts';

const HEADER_SECRET = 'hdr-5ecret-value-91827364';
const STRIPE_KEY = 'sk_test_51Secret0KeyThatMustNeverPrint77';

/** A hostile acquirer that echoes every request header in its error bodies. */
async function echoServer(status: number): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'bad', message: `you sent ${JSON.stringify(req.headers)}` } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function everywhere(err: unknown): string {
  const e = err as Error & { cause?: unknown };
  return [String(err), e?.message, e?.stack, inspect(err, { depth: 10 }), JSON.stringify(err), JSON.stringify(e?.cause ?? null)].join('\n');
}

describe('secrets never print', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });

  for (const status of [500, 401, 402]) {
    it(`http driver: an acquirer echoing our headers (${status}) leaks nothing into errors, records or logs`, async () => {
      const { url, server } = await echoServer(status);
      cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
      const db = new Database(':memory:');
      cleanup.push(() => void db.close());
      const { logger, text } = captureLogger();
      const drivers = createDrivers({
        acq: probeDriverConfigSchema.parse({
          type: 'http',
          url: `${url}/v1/charges`,
          headers: { Authorization: `Bearer ${HEADER_SECRET}`, 'X-Api-Key': HEADER_SECRET },
          body: { amount: '{{amount}}' },
          timeout: '1s',
        }),
      });
      const d = drivers.get('acq')!;
      const err = await d.charge({ probeId: 'p', idempotencyKey: 'k', amountMinor: 1, currency: 'eur', check: 'c' }).catch((e: unknown) => e);
      const refusedOrErr = everywhere(err);
      expect(refusedOrErr).not.toContain(HEADER_SECRET);

      const m = new ProbeManager({
        store: new SqliteProbeStore(db),
        drivers,
        globalBudget: { perHour: 10, perDay: 10 },
        clock: systemClock,
        logger,
        onResult: (_id, r) => logger.info({ report: r }, 'report'),
        retry: { minDelayMs: 5, maxDelayMs: 5, maxAttempts: 2 },
      });
      const rec = await m.fire({
        check: 'c',
        probeId: 'p1',
        reason: 'manual',
        deadline: Date.now() + 5000,
        options: checkProbeSchema.parse({ driver: 'acq', amount: 1, currency: 'eur', timeout: '1m' }),
      });
      expect(JSON.stringify(rec)).not.toContain(HEADER_SECRET);
      expect(JSON.stringify(await m.list())).not.toContain(HEADER_SECRET);
      expect(text()).toContain('p1');
      expect(text()).not.toContain(HEADER_SECRET);
    });
  }

  it('stripe driver: a server quoting the whole API key in a 401 leaks nothing', async () => {
    const s = await ContractStripe.start({ apiKey: 'sk_test_the_right_one', echoKeyInErrors: true });
    cleanup.push(() => s.close());
    const { logger, text } = captureLogger();
    const drivers = createDrivers({
      stripe: probeDriverConfigSchema.parse({ type: 'stripe', apiKey: STRIPE_KEY, host: s.host, port: s.port, protocol: 'http', timeout: '2s' }),
    });
    const err = await drivers
      .get('stripe')!
      .charge({ probeId: 'p', idempotencyKey: 'k', amountMinor: 100, currency: 'usd', check: 'c' })
      .catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('STRIPE_AUTH');
    expect(everywhere(err)).toContain('<secret>'); // the server did echo it; we scrubbed it
    expect(everywhere(err)).not.toContain(STRIPE_KEY);
    const db = new Database(':memory:');
    cleanup.push(() => void db.close());
    const m = new ProbeManager({
      store: new SqliteProbeStore(db),
      drivers,
      globalBudget: { perHour: 10, perDay: 10 },
      clock: systemClock,
      logger,
      onResult: (_id, r) => logger.info({ report: r }, 'report'),
    });
    const rec = await m.fire({
      check: 'c',
      probeId: 'p1',
      reason: 'manual',
      deadline: Date.now() + 5000,
      options: checkProbeSchema.parse({ driver: 'stripe', amount: 100, currency: 'usd', timeout: '1m' }),
    });
    expect(rec!.result).toBe('error');
    expect(JSON.stringify(rec)).not.toContain(STRIPE_KEY);
    expect(text()).not.toContain(STRIPE_KEY);
  });

  it('parsed driver config prints secrets as <secret> (logs, JSON, inspect)', () => {
    const cfg = probeDriverConfigSchema.parse({ type: 'stripe', apiKey: STRIPE_KEY });
    const http = probeDriverConfigSchema.parse({ type: 'http', url: 'https://a.example/x', headers: { Authorization: HEADER_SECRET } });
    const { logger, text } = captureLogger();
    logger.info({ cfg, http }, 'config');
    for (const out of [text(), JSON.stringify(cfg), JSON.stringify(http), inspect(cfg, { depth: 5 }), inspect(http, { depth: 5 })]) {
      expect(out).not.toContain(STRIPE_KEY);
      expect(out).not.toContain(HEADER_SECRET);
    }
  });
});
