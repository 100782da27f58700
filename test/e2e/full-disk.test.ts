/**
 * Issue 16.1 against the real service: the SQLite file lives on a small tmpfs that fills up while a
 * check goes down. Ingest answers 503 (nothing accepted that cannot be stored), but the page still
 * reaches PagerDuty within its deadline (from memory), "quietwatch has lost its store" is paged
 * through the fallback route, /readyz says degraded [store]; when space returns the writes go
 * through, the lost-store page resolves, and a restart finds the incident (nothing lost, nothing sent twice).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPagerDutyContract, type PagerDutyContract } from '../contract/pagerduty.ts';
import { waitFor } from '../helpers/process.ts';
import { startService, tempDir, type Running } from '../helpers/service.ts';

const ROUTING_KEY = 'R0123456789abcdef0123456789abcde';
const FALLBACK_KEY = 'F0123456789abcdef0123456789abcde';
const dir = tempDir('qw-fulldisk-');
const mnt = join(dir, 'disk');
let mounted = false;
let mountError = '';
let pd: PagerDutyContract;

beforeAll(async () => {
  mkdirSync(mnt, { recursive: true });
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt], { encoding: 'utf8' });
  mounted = m.status === 0;
  mountError = `${m.error?.message ?? ''}${m.stderr ?? ''}`.trim();
  pd = await startPagerDutyContract({ validKeys: [ROUTING_KEY, FALLBACK_KEY] });
});
afterAll(async () => {
  await pd?.close();
  if (mounted) spawnSync('umount', ['-l', mnt]);
  rmSync(dir, { recursive: true, force: true });
});

/** Fill the filesystem to the last byte. */
function fill(): void {
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${join(mnt, 'filler')}`, 'bs=64k'], { stdio: 'ignore' });
  } catch {
    /* dd stops with ENOSPC: that is the point */
  }
}

const yaml = (path: string) => `
store: { path: ${path}, lostAfter: 2s }
alerts:
  notifiers:
    pager: { type: pagerduty, routingKey: "${ROUTING_KEY}", eventsUrl: "${pd.url}", timeoutMs: 1000 }
    fallback: { type: pagerduty, routingKey: "${FALLBACK_KEY}", eventsUrl: "${pd.url}", timeoutMs: 1000 }
  routes: { default: { page: [pager] } }
  escalation: { after: 10m, fallback: [fallback] }
  retry: { minDelay: 100ms, maxDelay: 500ms }
checks:
  - { name: cards, quietAfter: 1s, pageAfter: 2s }
`;

describe('a full disk under the SQLite store', () => {
  it('pages the check within its deadline, pages the lost store, says degraded [store], and heals without a restart', async (ctx) => {
    // Needs root and tmpfs (this machine and CI have both): as root a failed mount is a failure, not a skip.
    if (!mounted && process.getuid?.() === 0) throw new Error(`mount -t tmpfs failed as root: ${mountError}`);
    if (!mounted) ctx.skip(`a full disk needs a 4 MiB tmpfs, which only root can mount (${mountError || 'mount failed'})`);
    const path = join(mnt, 'qw.sqlite');
    let s: Running | undefined = await startService(yaml(path), { dir });
    try {
      expect((await s.fetch('/v1/streams/cards/ping', { method: 'POST' })).status).toBe(202);
      const lastEvent = Date.now();
      fill();
      // The disk is full: a batch that cannot be stored is refused, never acknowledged.
      await waitFor(async () => ((await s!.fetch('/v1/events', { method: 'POST', body: JSON.stringify([{ stream: 'other' }, { stream: 'cards', id: 'x' }].slice(1)), headers: { 'content-type': 'application/json' } })).status === 503 ? true : undefined), 5_000);
      const down = await waitFor(() => pd.events.find((e) => e.event_action === 'trigger' && e.routing_key === ROUTING_KEY), 10_000);
      // pageAfter 2 s after the last accepted event (the 503 batch was not accepted), plus delivery.
      expect(pd.requestTimes[pd.requests.indexOf(pd.requests.find((r) => (r as { dedup_key?: string }).dedup_key === down.dedup_key)!)]! - lastEvent).toBeLessThan(6_000);
      expect(down.payload!.summary).toMatch(/cards/);
      const lost = await waitFor(() => pd.events.find((e) => e.routing_key === FALLBACK_KEY && e.event_action === 'trigger'), 15_000);
      expect(lost.payload!.summary).toMatch(/quietwatch has lost its store \(.*qw\.sqlite\).*writes fail/);
      const ready = await s.fetch('/readyz');
      expect(ready.body.degraded).toContain('store');

      // Space returns: the next write goes through, the lost-store page resolves, ingest accepts again.
      rmSync(join(mnt, 'filler'));
      await waitFor(async () => ((await s!.fetch('/v1/streams/other/ping', { method: 'POST' })).status === 202 ? true : undefined), 10_000);
      await waitFor(() => pd.events.find((e) => e.routing_key === FALLBACK_KEY && e.event_action === 'resolve' && e.dedup_key === lost.dedup_key), 15_000);
      await waitFor(async () => (!(await s!.fetch('/readyz')).body.degraded.includes('store') ? true : undefined), 10_000);
      await s.close();
      s = undefined;

      // After a restart the incident is there (it was written once space returned), and no second page.
      const triggersBefore = pd.events.filter((e) => e.routing_key === ROUTING_KEY && e.event_action === 'trigger').length;
      s = await startService(yaml(path), { dir });
      const open = (await s.fetch('/v1/incidents?open=true')).body.incidents as Array<{ check?: string; members?: unknown[] }>;
      expect(open.length).toBe(1);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(pd.events.filter((e) => e.routing_key === ROUTING_KEY && e.event_action === 'trigger').length).toBe(triggersBefore);
      writeFileSync(join(dir, 'done'), 'ok');
    } finally {
      await s?.close();
    }
  }, 90_000);
});
