/**
 * The real service as a child process: deadlines within a second, then SIGKILL and restart.
 * After a restart no page fires for the downtime and a down check stays down.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from './helpers/service.ts';
import { freePort, getJson, runCli, waitFor, type Proc } from './helpers/process.ts';

let procs: Proc[] = [];
afterEach(() => {
  for (const p of procs) p.child.kill('SIGKILL');
  procs = [];
});

describe('the service across a SIGKILL', () => {
  it('moves ok -> quiet -> down at the deadlines, and keeps state, flips and down across a restart without paging for the downtime', async () => {
    const dir = tempDir();
    const port = await freePort();
    const cfg = join(dir, 'qw.yaml');
    writeFileSync(
      cfg,
      `server: { port: ${port} }
store: { path: ${join(dir, 'state.sqlite')} }
checks:
  - { name: dies, quietAfter: 1s, pageAfter: 2s }
  - { name: lives, quietAfter: 3s, pageAfter: 4s }
`,
    );
    const url = `http://127.0.0.1:${port}`;
    const start = () => {
      const p = runCli(['serve', '--config', cfg]);
      procs.push(p);
      return p;
    };
    const p1 = start();
    await waitFor(async () => (await fetch(`${url}/healthz`)).ok, 30_000); // a process start: slow on a loaded machine
    const post = (stream: string) => fetch(`${url}/v1/streams/${stream}/ping`, { method: 'POST' });
    await post('dies');
    await post('lives');
    const sent = (await getJson(`${url}/v1/checks/dies`)).lastEventAt as number;

    // ok -> quiet -> down at the configured deadlines, noticed within a second.
    const quiet = await waitFor(async () => {
      const c = await getJson(`${url}/v1/checks/dies`);
      return c.status === 'quiet' ? Date.now() : undefined;
    });
    expect(quiet - (sent + 1000)).toBeLessThan(1000);
    const down = await waitFor(async () => ((await getJson(`${url}/v1/checks/dies`)).status === 'down' ? Date.now() : undefined));
    expect(down - (sent + 2000)).toBeLessThan(1000);
    const flips = (await getJson(`${url}/v1/checks/dies`)).flips.reverse();
    expect(flips.map((f: any) => [f.to, f.at - sent])).toEqual([
      ['ok', 0],
      ['quiet', 1000],
      ['down', 2000],
    ]);
    await waitFor(() => (p1.lines().some((l) => /^PAGE dies/.test(l.msg ?? '')) ? true : undefined));
    expect(p1.lines().filter((l) => /^PAGE dies/.test(l.msg ?? ''))).toHaveLength(1);

    // Keep "lives" fed, then kill the process hard.
    await post('lives');
    p1.child.kill('SIGKILL');
    await p1.exited;
    // Down for longer than every pageAfter.
    await new Promise((r) => setTimeout(r, 4500));

    const p2 = start();
    await waitFor(async () => (await fetch(`${url}/healthz`)).ok, 30_000); // a process start: slow on a loaded machine
    const dies = await getJson(`${url}/v1/checks/dies`);
    const lives = await getJson(`${url}/v1/checks/lives`);
    expect(dies.status).toBe('down');
    expect(dies.flips).toHaveLength(3);
    expect(lives.status).toBe('unknown');
    expect(lives.flips[0]).toMatchObject({ from: 'ok', to: 'unknown', reason: 'service restarted' });
    expect(lives.lastEventAt).toBeGreaterThan(sent);
    // No page for the downtime: "lives" pages only a full pageAfter after the restart.
    await new Promise((r) => setTimeout(r, 1500));
    expect(p2.lines().filter((l) => /^PAGE /.test(l.msg ?? ''))).toHaveLength(0);
    expect((await getJson(`${url}/v1/checks/lives`)).status).not.toBe('down');
    // Events return: the down check resolves.
    await post('dies');
    expect((await getJson(`${url}/v1/checks/dies`)).status).toBe('ok');
    await waitFor(() => (p2.lines().some((l) => /^RESOLVED dies/.test(l.msg ?? '')) ? true : undefined));
    expect(p2.lines().filter((l) => /^RESOLVED dies/.test(l.msg ?? ''))).toHaveLength(1);
  }, 80_000);
});
