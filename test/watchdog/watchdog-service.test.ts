/**
 * The watchdog wired into the real service (config `watchdog:`), in virtual time: heartbeats go to a
 * real local receiver while everything is healthy; while PagerDuty answers 503 to a page, the
 * heartbeat turns into the failure URL naming the notifier that is retrying; once PagerDuty is back
 * and the page delivered, heartbeats resume. Start-up also warns about a check whose pages reach
 * nobody (alerts/unrouted.ts through the service's own logger).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startPagerDutyContract, type PagerDutyContract } from '../contract/pagerduty.ts';
import { startService, type Running } from '../helpers/service.ts';
import { useVirtualTime, type VirtualTime } from '../helpers/virtual-time.ts';

const PD_KEY = 'R0UT1NGKEY0123456789ABCDEFGHIJKL';

interface Hit {
  path: string;
  body: string;
}
async function receiver(): Promise<{ url: string; hits: Hit[]; server: Server }> {
  const hits: Hit[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      hits.push({ path: req.url ?? '', body });
      res.writeHead(200).end('OK');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits, server };
}

let vt: VirtualTime | undefined;
let svc: Running | undefined;
let pd: PagerDutyContract | undefined;
let rx: Awaited<ReturnType<typeof receiver>> | undefined;
afterEach(async () => {
  await svc?.close();
  vt?.restore();
  await pd?.close();
  await new Promise((r) => rx?.server.close(r) ?? r(undefined));
  svc = pd = rx = vt = undefined;
});

describe('the watchdog in the running service', () => {
  it('beats while healthy, sends the failure URL naming the retrying notifier while PagerDuty answers 503, beats again once the page is out', async () => {
    rx = await receiver();
    pd = await startPagerDutyContract({ validKeys: [PD_KEY] });
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (c, _e, cb) => (lines.push(JSON.parse(c.toString())), cb()) }));
    vt = useVirtualTime();
    svc = await startService(
      `
watchdog: { url: "${rx.url}/beat", failUrl: "${rx.url}/fail", every: 2s, timeout: 1s }
alerts:
  notifiers:
    pager: { type: pagerduty, routingKey: ${PD_KEY}, eventsUrl: "${pd.url}/v2/enqueue", timeoutMs: 500 }
  routes:
    default: { page: [pager] }
    overrides: [{ match: { labels: { team: nobody } }, page: [] }]
  retry: { minDelay: 500ms, maxDelay: 1s }
  pendingPageAlarm: 1h
checks:
  - { name: cards, quietAfter: 1s, pageAfter: 2s }
  - { name: orphan, quietAfter: 1h, pageAfter: 2h, labels: { team: nobody } }
`,
      { logger },
    );
    const s = svc;
    // start-up names the check whose pages reach nobody
    expect(lines.some((l) => l.level === 40 && /pages for orphan reach nobody/.test(String(l.msg)))).toBe(true);
    expect(lines.some((l) => /pages for cards reach nobody/.test(String(l.msg)))).toBe(false);

    // healthy: a heartbeat every 2 s
    expect((await s.inject('/v1/streams/cards/ping', { method: 'POST' })).status).toBe(202);
    await vt.advance(500, 100);
    await vt.until(() => (rx!.hits.filter((h) => h.path === '/beat').length >= 1 ? true : undefined), 5_000, 100);
    expect(rx.hits.filter((h) => h.path === '/fail')).toEqual([]);

    // PagerDuty down: the check pages, the page is retried, the notifier is unhealthy -> /fail
    pd.setDown({ status: 503 });
    await vt.until(async () => ((await s.inject('/v1/checks/cards')).body.status === 'down' ? true : undefined), 10_000, 100);
    const fail = await vt.until(() => rx!.hits.find((h) => h.path === '/fail'), 10_000, 100);
    expect(fail.body).toMatch(/retrying: pager \(/);
    expect(fail.body).not.toMatch(/failing permanently: $/m);
    const beatsWhileDown = rx.hits.filter((h) => h.path === '/beat').length;
    await vt.advance(4_000, 100);
    expect(rx.hits.filter((h) => h.path === '/beat').length).toBe(beatsWhileDown); // no heartbeat hides it

    // PagerDuty back: the page goes out, heartbeats resume
    pd.setDown(undefined);
    await vt.until(() => (pd!.events.some((e) => e.event_action === 'trigger') ? true : undefined), 10_000, 100);
    await vt.until(() => (rx!.hits.filter((h) => h.path === '/beat').length > beatsWhileDown ? true : undefined), 10_000, 100);
    const ready = (await s.inject('/readyz')).body;
    expect(ready.components.watchdog).toBeDefined();
  }, 60_000);
});
