/**
 * Outage storms against the real service (its own process, SQLite on disk), a real signed webhook
 * receiver and the PagerDuty contract server:
 * - 2,000 checks go silent at once: one incident, a handful of requests, every member listed by
 *   count, /healthz answering throughout; traffic back: one resolve.
 * - SIGKILL in the middle of the storm: after a restart on the same file no page is lost (every
 *   check that went down is in the incident) and PagerDuty still sees one incident.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startPagerDutyContract, type PagerDutyContract } from '../contract/pagerduty.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../contract/webhook-receiver.ts';
import { freePort, runCli, waitFor, type Proc } from '../helpers/process.ts';

const PD_KEY = 'R0UT1NGKEY0123456789ABCDEFGHIJKL';
const SECRET = 'storm-test-webhook-secret-0123456789';

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

function config(dir: string, port: number, n: number, p: { hook?: WebhookReceiver; pd?: PagerDutyContract }): string {
  const notifiers = [
    p.hook ? `    hook: { type: webhook, url: "${p.hook.url}", secret: ${SECRET}, timeoutMs: 2000 }` : '',
    p.pd ? `    pd: { type: pagerduty, routingKey: ${PD_KEY}, eventsUrl: "${p.pd.url}", source: storm-test, timeoutMs: 60000 }` : '',
  ].filter(Boolean);
  const page = [p.hook ? 'hook' : '', p.pd ? 'pd' : ''].filter(Boolean).join(', ');
  // pageAfter 4 s: longer than a loaded machine takes from the service's start to the first events
  // (with 2 s every check could page from the start, recover on its event and page again: two incidents).
  const checks = Array.from({ length: n }, (_, i) => `  - { name: c${i}, stream: s${i}, quietAfter: 2s, pageAfter: 4s, labels: { scheme: ${i % 2 ? 'mastercard' : 'visa'} } }`);
  const file = join(dir, 'storm.yaml');
  writeFileSync(
    file,
    [
      `server: { port: ${port}, bodyLimit: 52428800 }`,
      `store: { path: ${join(dir, 'storm.sqlite')} }`,
      `sandbox: { enabled: false }`,
      `alerts:`,
      `  notifiers:`,
      ...notifiers,
      `  routes: { default: { warning: [], page: [${page}] } }`,
      `  retry: { minDelay: 100ms, maxDelay: 1s }`,
      `checks:`,
      ...checks,
      '',
    ].join('\n'),
  );
  return file;
}

async function serve(file: string, port: number): Promise<Proc & { url: string }> {
  const proc = runCli(['serve', '--config', file], { QUIETWATCH_LOG_LEVEL: 'warn' });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/healthz`)).ok || undefined, 60_000, 50);
  return { ...proc, url };
}

async function silence(url: string, n: number): Promise<void> {
  const now = Date.now();
  const res = await fetch(`${url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(Array.from({ length: n }, (_, i) => ({ stream: `s${i}`, time: now }))),
  });
  expect(res.status).toBe(202);
}

type Group = { downTotal: number; recoveredTotal: number; total: number };
const hookGroup = (r: WebhookReceiver['received'][number]) =>
  (r.json as { notification: { action: string; details: { extra?: { group?: Group } } } }).notification;

describe('outage storms (real service)', () => {
  it('2,000 checks silent at once: one incident, a few signed webhook calls listing every member, /healthz answering; then one resolve', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qw-storm-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const hook = await startWebhookReceiver({ secret: SECRET });
    cleanup.push(() => hook.close());
    const port = await freePort();
    const svc = await serve(config(dir, port, 2000, { hook }), port);
    cleanup.push(async () => {
      svc.child.kill('SIGKILL');
      await svc.exited;
    });

    await silence(svc.url, 2000);
    const health: number[] = [];
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const t0 = performance.now();
        await fetch(`${svc.url}/healthz`, { signal: AbortSignal.timeout(5000) }).then((r) => r.text());
        health.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await waitFor(() => hook.received.some((r) => hookGroup(r).details.extra?.group?.downTotal === 2000) || undefined, 30_000);
    polling = false;
    await poll;

    expect(hook.received.every((r) => r.verified)).toBe(true);
    const triggers = hook.received.filter((r) => hookGroup(r).action === 'trigger');
    expect(triggers.length).toBeLessThanOrEqual(3);
    const keys = new Set(hook.received.map((r) => (r.json as { notification: { dedupKey: string } }).notification.dedupKey));
    expect(keys.size).toBe(1);
    expect(Math.max(...health)).toBeLessThan(1000);

    // Traffic back on every check: the incident resolves once, when the last member does.
    await silence(svc.url, 2000);
    await waitFor(() => hook.received.some((r) => hookGroup(r).action === 'resolve') || undefined, 30_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(hook.received.filter((r) => hookGroup(r).action === 'resolve')).toHaveLength(1);
    const open = await (await fetch(`${svc.url}/v1/incidents?open=true`)).json();
    expect(open.incidents ?? open).toHaveLength(0);
  }, 120_000);

  it('SIGKILL in the middle of a storm: no page lost, no duplicate incident after the restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qw-storm-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const pd = await startPagerDutyContract({ validKeys: [PD_KEY] });
    cleanup.push(() => pd.close());
    pd.setDown({ hang: true }); // PagerDuty has the trigger and has not answered when we die
    const port = await freePort();
    const file = config(dir, port, 3000, { pd });
    const first = await serve(file, port);
    cleanup.push(async () => {
      if (first.child.exitCode === null) first.child.kill('SIGKILL');
    });
    await silence(first.url, 3000);
    await waitFor(() => pd.requests.length >= 1 || undefined, 30_000, 5);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(pd.events).toHaveLength(0);
    pd.setDown(undefined);

    // Restart on the same file: the page is sent again with the same dedup key, and every check
    // (down before the kill, or going down again after the restart rule) is a member of that incident.
    const second = await serve(file, port);
    cleanup.push(async () => {
      second.child.kill('SIGKILL');
      await second.exited;
    });
    const firstKey = (pd.requests[0] as { dedup_key: string }).dedup_key;
    await waitFor(() => pd.events.some((e) => (e.payload?.custom_details as { extra?: { group?: Group } } | undefined)?.extra?.group?.downTotal === 3000) || undefined, 60_000);
    expect(new Set(pd.events.map((e) => e.dedup_key))).toEqual(new Set([firstKey]));
    expect(pd.incidentsOpened()).toBe(1);
    const open = await (await fetch(`${second.url}/v1/incidents?open=true`)).json();
    expect(open.incidents ?? open).toHaveLength(1);
  }, 180_000);
});
