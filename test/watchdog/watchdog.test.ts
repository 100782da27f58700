/**
 * The watchdog against a real local HTTP receiver, with vitest's fake timers driving its interval:
 * heartbeats go out every `every` while healthy, stop (or turn into the /fail signal for
 * Healthchecks-style URLs) when a component fails, and a receiver that is down is logged and counted
 * without crashing anything.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Secret } from '../../src/lib/secret.ts';
import { watchdogConfigSchema } from '../../src/watchdog/config.ts';
import { loopHealth, notifierHealth, serviceHealth, storeHealth } from '../../src/watchdog/health.ts';
import { decideBeat, failUrlFor, Watchdog, watchdogOptions, type BeatRecord, type WatchdogHealth, type WatchdogOptions } from '../../src/watchdog/index.ts';

interface Hit {
  method: string;
  path: string;
  body: string;
  ua: string | undefined;
}

async function receiver(status = 200): Promise<{ url: string; hits: Hit[]; server: Server; port: number; close(): Promise<void> }> {
  const hits: Hit[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      hits.push({ method: req.method!, path: req.url!, body, ua: req.headers['user-agent'] });
      res.writeHead(status, { 'content-type': 'text/plain' }).end('OK');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, hits, server, port, close: () => new Promise((r) => server.close(() => r())) };
}

/** A pino logger whose lines land in `lines` (parsed). */
function captureLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) {
        raw.push(l);
        lines.push(JSON.parse(l));
      }
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, dest), lines, raw };
}

const healthy = (): WatchdogHealth => ({ loop: { ok: true }, store: { ok: true }, notifiers: { ok: true } });
const realSleep = (ms: number) => new Promise<void>((r) => globalThis.setTimeout(r, ms));
// Captured before the fake timers are installed: waiting for real network I/O needs real time.
const realSetTimeout = globalThis.setTimeout;
async function until<T>(fn: () => T | undefined | false, ms = 3000): Promise<T> {
  const end = performance.now() + ms; // Date is faked
  for (;;) {
    const v = fn();
    if (v) return v;
    if (performance.now() > end) throw new Error('timed out');
    await new Promise((r) => realSetTimeout(r, 10));
  }
}

const scheduler = {
  setInterval: (fn: () => void, ms: number) => setInterval(fn, ms),
  clearInterval: (h: unknown) => clearInterval(h as NodeJS.Timeout),
  // Request timeouts run on real time: the network is real.
  setTimeout: (fn: () => void, ms: number) => realSetTimeout(fn, ms),
  clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
};

const cleanups: Array<() => unknown> = [];
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'], now: new Date('2026-12-02T01:00:00Z') });
});
afterEach(async () => {
  vi.useRealTimers();
  while (cleanups.length) await cleanups.pop()!();
});

function opts(url: string, o: Partial<WatchdogOptions> = {}): WatchdogOptions {
  return { url: new Secret(url), everyMs: 30_000, method: 'POST', timeoutMs: 2_000, onUnhealthy: 'stop', ...o };
}

describe('failUrlFor and decideBeat (pure)', () => {
  it.each([
    ['https://hc-ping.com/0f5e7a6c-1111-4222-8333-944445555666', 'https://hc-ping.com/0f5e7a6c-1111-4222-8333-944445555666/fail'],
    ['https://hc-ping.com/PINGKEY/quietwatch-prod', 'https://hc-ping.com/PINGKEY/quietwatch-prod/fail'],
    ['https://hc.example.org/ping/0f5e7a6c-1111-4222-8333-944445555666/', 'https://hc.example.org/ping/0f5e7a6c-1111-4222-8333-944445555666/fail'],
    ['https://cronitor.link/p/KEY/quietwatch', 'https://cronitor.link/p/KEY/quietwatch?state=fail'],
    ['https://hc-ping.com/0f5e7a6c-1111-4222-8333-944445555666/fail', undefined],
    ['https://receiver.example/heartbeat', undefined],
    ['not a url', undefined],
  ])('%s -> %s', (url, fail) => {
    expect(failUrlFor(url)).toBe(fail);
  });

  it('is ok only when every component is; otherwise fail (with the reason) or withhold', () => {
    expect(decideBeat(healthy(), true).kind).toBe('ok');
    const h = { ...healthy(), store: { ok: false, detail: 'SQLITE_IOERR' } };
    expect(decideBeat(h, false)).toEqual({ kind: 'withhold', failing: ['store'] });
    const f = decideBeat({ ...h, loop: { ok: false } }, true);
    expect(f.kind).toBe('fail');
    expect(f.kind === 'fail' && f.failing).toEqual(['loop', 'store']);
    expect(f.kind === 'fail' && f.body).toContain('store: FAILING (SQLITE_IOERR)');
  });

  it('config: defaults, Healthchecks URLs fail by default, other URLs stop, the URL never echoed in errors', () => {
    const hc = watchdogOptions(watchdogConfigSchema.parse({ url: 'https://hc-ping.com/0f5e7a6c-1111-4222-8333-944445555666' }));
    expect(hc.everyMs).toBe(30_000);
    expect(hc.method).toBe('POST');
    expect(hc.onUnhealthy).toBe('fail');
    expect(hc.failUrl?.reveal()).toBe('https://hc-ping.com/0f5e7a6c-1111-4222-8333-944445555666/fail');
    expect(String(hc.failUrl)).toBe('<secret>');
    const plain = watchdogOptions(watchdogConfigSchema.parse({ url: 'https://receiver.example/hb', every: '1m', method: 'GET' }));
    expect(plain).toMatchObject({ everyMs: 60_000, method: 'GET', onUnhealthy: 'stop' });
    expect(plain.failUrl).toBeUndefined();
    const bad = watchdogConfigSchema.safeParse({ url: 'ftp://secret-uuid-here', every: '500ms', timeout: '1s' });
    expect(bad.success).toBe(false);
    const msg = JSON.stringify(bad.error!.issues);
    expect(msg).not.toContain('secret-uuid-here');
    expect(bad.error!.issues.map((i) => i.path.join('.'))).toEqual(expect.arrayContaining(['url', 'every', 'timeout']));
  });
});

describe('the watchdog against a real HTTP receiver', () => {
  it('beats at start and every 30 s while healthy: POST with the component states, nothing secret logged', async () => {
    const r = await receiver();
    cleanups.push(() => r.close());
    const { logger, raw } = captureLogger();
    const beats: BeatRecord[] = [];
    const wd = new Watchdog(opts(`${r.url}/ping/0f5e7a6c-aaaa`), { clock: { now: () => Date.now() }, logger, health: healthy, scheduler, onBeat: (b) => beats.push(b) });
    cleanups.push(() => wd.stop());
    wd.start();
    await until(() => r.hits.length === 1);
    await vi.advanceTimersByTimeAsync(29_000);
    await realSleep(50);
    expect(r.hits).toHaveLength(1); // not before `every`
    await vi.advanceTimersByTimeAsync(1_000);
    await until(() => r.hits.length === 2);
    await until(() => wd.stats().sent === 2);
    await vi.advanceTimersByTimeAsync(30_000);
    await until(() => wd.stats().sent === 3);
    await vi.advanceTimersByTimeAsync(30_000);
    await until(() => r.hits.length === 4);
    expect(r.hits.every((h) => h.method === 'POST' && h.path === '/ping/0f5e7a6c-aaaa')).toBe(true);
    expect(r.hits[0]!.body).toBe('loop: ok\nstore: ok\nnotifiers: ok');
    expect(r.hits[0]!.ua).toBe('quietwatch-watchdog');
    await until(() => beats.filter((b) => b.outcome === 'sent').length === 4);
    expect(wd.stats()).toMatchObject({ sent: 4, withheld: 0, receiverErrors: 0 });
    expect(raw.join('\n')).not.toContain('0f5e7a6c-aaaa');
    expect(raw.join('\n')).toContain(r.url); // the host is logged, the path is not

    // Stopped: silent (the receiver's own deadline is the alarm).
    await wd.stop();
    await vi.advanceTimersByTimeAsync(120_000);
    await realSleep(50);
    expect(r.hits).toHaveLength(4);
  });

  it('store fails -> no heartbeat (plain receiver), and it resumes when the store is back', async () => {
    const r = await receiver();
    cleanups.push(() => r.close());
    const { logger, lines } = captureLogger();
    let storeOk = true;
    const fakeStore = { ping: async () => { if (!storeOk) throw new Error('SQLITE_IOERR: disk I/O error'); } };
    const health = async (): Promise<WatchdogHealth> => ({ loop: { ok: true }, store: await storeHealth(fakeStore), notifiers: { ok: true } });
    const wd = new Watchdog(opts(`${r.url}/hb`, { method: 'GET' }), { clock: { now: () => Date.now() }, logger, health, scheduler });
    cleanups.push(() => wd.stop());
    wd.start();
    await until(() => wd.stats().sent === 1);
    expect(r.hits[0]).toMatchObject({ method: 'GET', path: '/hb', body: '' });

    storeOk = false;
    for (let i = 0; i < 4; i++) {
      await vi.advanceTimersByTimeAsync(30_000);
      await until(() => wd.stats().withheld === i + 1);
    }
    await realSleep(50);
    expect(r.hits).toHaveLength(1);
    expect(wd.stats()).toMatchObject({ sent: 1, withheld: 4 });
    // Said once, when it changed, with the reason.
    const errs = lines.filter((l) => l.level === 50 && String(l.msg).includes('store failing'));
    expect(errs).toHaveLength(1);
    expect(errs[0]!.msg).toMatch(/heartbeat withheld/);

    storeOk = true;
    await vi.advanceTimersByTimeAsync(30_000);
    await until(() => r.hits.length === 2);
    expect(lines.some((l) => /healthy again/.test(String(l.msg)))).toBe(true);
  });

  it('a Healthchecks-style URL gets the /fail signal at once with the reason in the body', async () => {
    const r = await receiver();
    cleanups.push(() => r.close());
    const { logger } = captureLogger();
    let notifiers = { ok: true } as WatchdogHealth['notifiers'];
    const cfg = watchdogConfigSchema.parse({ url: `${r.url}/ping/0f5e7a6c-1111-4222-8333-944445555666` });
    const wd = new Watchdog(watchdogOptions(cfg), { clock: { now: () => Date.now() }, logger, health: () => ({ loop: { ok: true }, store: { ok: true }, notifiers }), scheduler: { ...scheduler } });
    cleanups.push(() => wd.stop());
    wd.start();
    await until(() => wd.stats().sent === 1);
    notifiers = { ok: false, detail: 'failing permanently: pager (PD_INVALID_ROUTING_KEY)' };
    await vi.advanceTimersByTimeAsync(30_000);
    await until(() => wd.stats().failSignals === 1);
    expect(r.hits.map((h) => h.path)).toEqual(['/ping/0f5e7a6c-1111-4222-8333-944445555666', '/ping/0f5e7a6c-1111-4222-8333-944445555666/fail']);
    expect(r.hits[1]!.body).toContain('notifiers: FAILING (failing permanently: pager (PD_INVALID_ROUTING_KEY))');
    expect(wd.stats()).toMatchObject({ sent: 1, failSignals: 1 });
  });

  it('receiver down -> logged, counted, no crash; heartbeats reach it again when it is back', async () => {
    const r = await receiver();
    const port = r.port;
    await r.close(); // nothing listens there now: connection refused
    const { logger, lines, raw } = captureLogger();
    const wd = new Watchdog(opts(`http://127.0.0.1:${port}/ping/secret-path-uuid`), { clock: { now: () => Date.now() }, logger, health: healthy, scheduler });
    cleanups.push(() => wd.stop());
    wd.start();
    await until(() => wd.stats().receiverErrors === 1);
    await vi.advanceTimersByTimeAsync(30_000);
    await until(() => wd.stats().receiverErrors === 2);
    expect(wd.stats()).toMatchObject({ sent: 0, receiverErrors: 2, consecutiveReceiverErrors: 2 });
    expect(wd.readiness()).toMatchObject({ ok: true, degraded: true });
    const warns = lines.filter((l) => l.level === 40 && /receiver did not accept/.test(String(l.msg)));
    expect(warns).toHaveLength(2);
    expect(warns[0]!.code).toBe('ECONNREFUSED');
    expect(raw.join('\n')).not.toContain('secret-path-uuid');

    // The receiver comes back on the same port.
    const back = createServer((req, res) => { hits.push(req.url!); res.end('OK'); });
    const hits: string[] = [];
    await new Promise<void>((res) => back.listen(port, '127.0.0.1', res));
    cleanups.push(() => new Promise((res) => back.close(() => res(undefined))));
    await vi.advanceTimersByTimeAsync(30_000);
    await until(() => hits.length === 1);
    await until(() => wd.stats().sent === 1);
    expect(wd.stats().consecutiveReceiverErrors).toBe(0);
    expect(wd.readiness().degraded).toBeUndefined();
  });

  it('a receiver answering 500 or hanging past the timeout counts as a receiver error; a hung health() withholds', async () => {
    const r500 = await receiver(500);
    cleanups.push(() => r500.close());
    const { logger } = captureLogger();
    const wd = new Watchdog(opts(`${r500.url}/x`), { clock: { now: () => Date.now() }, logger, health: healthy, scheduler });
    expect((await wd.tick()).outcome).toBe('receiver-error');
    expect(wd.stats().lastOutcome).toMatchObject({ status: 500 });

    const hang = createServer(() => undefined); // never answers
    await new Promise<void>((res) => hang.listen(0, '127.0.0.1', res));
    cleanups.push(() => { hang.closeAllConnections(); return new Promise((res) => hang.close(() => res(undefined))); });
    const wd2 = new Watchdog(opts(`http://127.0.0.1:${(hang.address() as AddressInfo).port}/x`, { timeoutMs: 200 }), { clock: { now: () => Date.now() }, logger, health: healthy, scheduler });
    const t = await wd2.tick();
    expect(t).toMatchObject({ outcome: 'receiver-error', error: 'no answer within 200 ms' });

    const r = await receiver();
    cleanups.push(() => r.close());
    const wd3 = new Watchdog(opts(`${r.url}/x`, { timeoutMs: 200 }), { clock: { now: () => Date.now() }, logger, health: () => new Promise<WatchdogHealth>(() => undefined), scheduler });
    expect((await wd3.tick())).toMatchObject({ outcome: 'withheld', failing: ['loop', 'store', 'notifiers'] });
    expect(r.hits).toHaveLength(0);
  });
});

describe('overlap', () => {
  it('a beat still in flight when the next is due is not doubled: the tick is skipped and counted', async () => {
    let release!: () => void;
    const slow = createServer((_req, res) => {
      release = () => res.end('OK');
    });
    await new Promise<void>((res) => slow.listen(0, '127.0.0.1', res));
    cleanups.push(() => { slow.closeAllConnections(); return new Promise((res) => slow.close(() => res(undefined))); });
    const { logger } = captureLogger();
    const wd = new Watchdog(opts(`http://127.0.0.1:${(slow.address() as AddressInfo).port}/x`), { clock: { now: () => Date.now() }, logger, health: healthy, scheduler });
    const first = wd.tick();
    await until(() => release !== undefined);
    expect((await wd.tick()).outcome).toBe('skipped-overlap');
    release();
    expect((await first).outcome).toBe('sent');
    expect(wd.stats()).toMatchObject({ sent: 1, overlaps: 1 });
  });
});

describe('component health', () => {
  it('loop: a deadline not acted on for longer than the grace is a stuck loop; paused checks do not count', () => {
    const now = 1_000_000;
    const clock = { now: () => now };
    const snaps = [
      { name: 'a', status: 'ok', deadlines: { next: now + 5_000 } },
      { name: 'b', status: 'paused', deadlines: { next: now - 60_000 } },
    ];
    expect(loopHealth({ snapshots: () => snaps }, clock).ok).toBe(true);
    snaps.push({ name: 'c', status: 'ok', deadlines: { next: now - 15_000 } });
    expect(loopHealth({ snapshots: () => snaps }, clock)).toEqual({ ok: false, detail: '1 check deadline(s) not acted on, the oldest 15 s overdue (c)' });
  });

  it('notifiers: permanent failures by name and code only; store: a failed ping', async () => {
    expect(await notifierHealth({ health: async () => ({ ok: false, permanentFailures: [{ notifier: 'pager', code: 'PD_BAD_KEY', message: 'key R0123 invalid' } as never], pendingPages: 0 }) })).toEqual({
      ok: false,
      detail: 'failing permanently: pager (PD_BAD_KEY)',
    });
    // retrying (a 503), not failing for good: said so, with no empty "failing permanently: "
    expect(
      await notifierHealth({
        health: async () => ({ ok: false, degraded: ['notifier:pager', 'pages-late'], permanentFailures: [], failingNotifiers: [{ notifier: 'pager', code: 'PD_HTTP_503', attempts: 3 }], pendingPages: 2, oldestPendingPageMs: 61_000 }),
      }),
    ).toEqual({ ok: false, detail: 'retrying: pager (PD_HTTP_503, 3 attempts); 2 page(s) pending for 61 s' });
    expect(await notifierHealth({ health: async () => ({ ok: false, degraded: ['store'], permanentFailures: [], pendingPages: 0 }) })).toEqual({
      ok: false,
      detail: 'the alert store cannot be written (pages kept in memory)',
    });
    expect((await storeHealth({ ping: async () => { throw new Error('SQLITE_BUSY'); } })).ok).toBe(false);
    const h = await serviceHealth({
      runtime: { snapshots: () => [] },
      store: { ping: async () => undefined },
      alerts: { health: async () => ({ ok: true, permanentFailures: [], pendingPages: 0 }) },
      clock: { now: () => 0 },
    })();
    expect(h).toEqual({ loop: { ok: true }, store: { ok: true }, notifiers: { ok: true } });
  });
});

describe('with the real store and check runtime', () => {
  it('the store closes under it -> the heartbeat is withheld; the runtime keeps its deadlines -> loop ok', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { SqliteStore } = await import('../../src/store/sqlite.ts');
    const { CheckRuntime } = await import('../../src/checks/runtime.ts');
    vi.useRealTimers();
    const dir = mkdtempSync(join(tmpdir(), 'qw-watchdog-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const store = new SqliteStore(join(dir, 'qw.sqlite'));
    const clock = { now: () => Date.now() };
    const { logger } = captureLogger();
    const runtime = new CheckRuntime({ checks: [{ spec: { name: 'cards', stream: 'cards', match: {}, quietAfterMs: 60_000, pageAfterMs: 120_000, labels: {} } }], store, clock, logger, onEffect: () => undefined });
    await runtime.start();
    cleanups.push(() => runtime.stop());
    const r = await receiver();
    cleanups.push(() => r.close());
    const health = serviceHealth({ runtime, store, alerts: { health: async () => ({ ok: true, permanentFailures: [], pendingPages: 0 }) }, clock });
    expect(await health()).toEqual({ loop: { ok: true }, store: { ok: true }, notifiers: { ok: true } });
    const wd = new Watchdog(opts(`${r.url}/hb`), { clock, logger, health, scheduler: { ...scheduler, setInterval: (fn, ms) => setInterval(fn, ms), clearInterval: (h) => clearInterval(h as NodeJS.Timeout) } });
    expect((await wd.tick()).outcome).toBe('sent');
    await runtime.flushed();
    await store.close();
    const t = await wd.tick();
    expect(t).toMatchObject({ outcome: 'withheld', failing: ['store'] });
    expect(r.hits).toHaveLength(1);
  });
});
