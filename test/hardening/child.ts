/** The real service as a child process (`quietwatch serve`), so its memory is measured alone. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, runCli, waitFor, type Proc } from '../helpers/process.ts';
import { tempDir } from '../helpers/service.ts';

export interface Child {
  url: string;
  port: number;
  dir: string;
  proc: Proc;
  /** Resident set size of the service process, in bytes (from /proc). */
  rss(): number;
  stop(): Promise<void>;
}

export async function startChild(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<Child> {
  const dir = tempDir('qw-hard-');
  const port = await freePort();
  const cfg = join(dir, 'config.yaml');
  writeFileSync(cfg, `store: { path: ${JSON.stringify(join(dir, 'qw.sqlite'))} }\n${yaml}`);
  const proc = runCli(['serve', '--config', cfg, '--port', String(port), '--host', '127.0.0.1'], { QUIETWATCH_LOG_LEVEL: 'warn', ...env });
  const url = `http://127.0.0.1:${port}`;
  await Promise.race([
    waitFor(async () => (await fetch(`${url}/healthz`)).ok || undefined, 30_000, 100),
    proc.exited.then((code) => {
      throw new Error(`quietwatch exited ${code}: ${JSON.stringify(proc.lines().slice(-5))}`);
    }),
  ]);
  return {
    url,
    port,
    dir,
    proc,
    rss() {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.child.pid}/status`, 'utf8'));
      return Number(m![1]) * 1024;
    },
    async stop() {
      if (proc.child.exitCode === null) {
        proc.child.kill('SIGTERM');
        await Promise.race([proc.exited, new Promise((r) => setTimeout(r, 5_000))]);
        if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
      }
    },
  };
}

export const MB = 1024 * 1024;
