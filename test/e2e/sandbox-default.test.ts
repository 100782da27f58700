/**
 * The newcomer's walkthrough, for real: the embedded default config, the `quietwatch` CLI as child
 * processes. `quietwatch sandbox quiet` -> a probe proves the pipeline (OK); `quietwatch sandbox broken`
 * -> the probe is lost -> DOWN and a page in the logs. Both visible in `quietwatch status`.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, freePort, getJson, runCli, waitFor, type Proc } from '../helpers/process.ts';
import { tempDir } from '../helpers/service.ts';

const run = promisify(execFile);
let proc: Proc | undefined;
afterAll(() => {
  proc?.child.kill('SIGKILL');
});

describe('the default config and the sandbox', () => {
  it('quiet -> probe -> ok, then broken -> page, shown by `quietwatch status` and the logs', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    proc = runCli(['serve', '--port', String(port), '--store', join(tempDir(), 'qw.sqlite')]);
    await waitFor(async () => (await fetch(`${url}/healthz`)).ok, 15_000);
    const cli = async (...args: string[]) => (await run(process.execPath, [BIN, ...args, '--server', url])).stdout;
    const visa = () => getJson(`${url}/v1/checks/card-auth-visa`);

    await waitFor(async () => ((await visa()).status === 'ok' ? true : undefined), 15_000);
    expect(await cli('sandbox', 'quiet')).toMatch(/healthy -> quiet/);
    const proven = await waitFor(async () => {
      const c = await visa();
      return c.probes?.some((p: { result: string }) => p.result === 'proven') ? c : undefined;
    }, 40_000);
    expect(proven.status).toBe('ok');
    const status1 = await cli('status');
    expect(status1).toMatch(/card-auth-visa\s+OK/);
    expect(await cli('probes', 'card-auth-visa')).toMatch(/proven\s+\d+ms\s+sbx_ch_\d+\s+100 gbp/);

    expect(await cli('sandbox', 'broken')).toMatch(/quiet -> broken/);
    await waitFor(async () => ((await visa()).status === 'down' ? true : undefined), 120_000, 250);
    const status2 = await cli('status');
    expect(status2).toMatch(/card-auth-visa\s+DOWN/);
    const logs = proc.lines();
    expect(logs.some((l) => l.check === 'card-auth-visa' && /^PAGE card-auth-visa: probe \S+ lost: charge accepted/.test(l.msg ?? ''))).toBe(true);
    expect(logs.some((l) => l.check === 'card-auth-visa' && l.msg === 'probe proven: the synthetic transaction came through')).toBe(true);
    // One outage on one route is one incident: visa is in it (it may have opened it, or joined mastercard's).
    expect((await getJson(`${url}/v1/incidents?open=true&check=card-auth-visa`)).incidents).toHaveLength(1);

    // Healthy again: traffic returns and the incident resolves by itself.
    await cli('sandbox', 'healthy');
    await waitFor(async () => ((await visa()).status === 'ok' ? true : undefined), 15_000);
    await waitFor(async () => ((await getJson(`${url}/v1/incidents?open=true`)).incidents.length === 0 ? true : undefined), 15_000);
  }, 200_000);
});
