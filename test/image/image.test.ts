/**
 * The container image, built from the real Dockerfile (unchanged) with buildah — no Docker engine
 * runs here — and started. The base image node:20-bookworm-slim cannot be pulled here, so
 * test/image/standin.sh builds a local stand-in with the same name from Debian's archive and this
 * machine's Node 20 (cached by content in buildah's storage). The build uses buildah's layer cache
 * (`--layers`): a change to package-lock.json redoes apt-get + npm ci (about 5 minutes here), other
 * changes only the last steps.
 *
 * Skips, saying why, only when buildah cannot run (not installed, not root, no storage).
 * scripts/test.sh installs buildah and debootstrap when missing.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { freePort } from '../helpers/process.ts';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const IMAGE = 'localhost/quietwatch:test';
const INGEST = 'image-ingest-token-0123456789';
const READ = 'image-read-token-0123456789';
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };

async function sh(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const { stdout } = await run(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20 });
  return stdout;
}

/** Why buildah cannot run here, or undefined when it can. */
async function buildahProblem(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'buildah --isolation chroot needs root here';
  try {
    await sh('buildah', ['--version'], 10_000);
  } catch {
    return 'buildah is not installed (scripts/test.sh installs it: apt-get install buildah debootstrap)';
  }
  try {
    await sh('debootstrap', ['--version'], 10_000);
  } catch {
    return 'debootstrap is not installed (scripts/test.sh installs it)';
  }
  try {
    const c = (await sh('buildah', ['from', 'scratch'], 30_000)).trim();
    await sh('buildah', ['rm', c], 30_000);
  } catch (err) {
    return `buildah cannot create a container: ${(err as Error).message.split('\n')[0]}`;
  }
  return undefined;
}

const problem = await buildahProblem();

interface Started {
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** `buildah run` the image's entrypoint with args in a working container (its own process group, so it can be stopped). */
function start(container: string, args: string[], env: Record<string, string> = {}, volumes: string[] = []): Started {
  const envArgs = Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
  const volArgs = volumes.flatMap((v) => ['--volume', v]);
  const proc = spawn('buildah', ['run', '--isolation', 'chroot', ...envArgs, ...volArgs, container, '--', 'node', 'bin/quietwatch.js', ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, output: () => out, exited };
}

async function stop(s: Started): Promise<void> {
  if (s.proc.exitCode !== null || s.proc.pid === undefined) return;
  try {
    process.kill(-s.proc.pid, 'SIGTERM');
  } catch {
    /* gone */
  }
  const t = setTimeout(() => {
    try {
      process.kill(-s.proc.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, 10_000);
  await s.exited;
  clearTimeout(t);
}

/** Wait until the service answers /healthz (or exits). */
async function healthy(s: Started, port: number, withinMs = 60_000): Promise<Response> {
  const until = Date.now() + withinMs;
  for (;;) {
    if (s.proc.exitCode !== null) throw new Error(`the service exited with ${s.proc.exitCode}:\n${s.output()}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) return r;
    } catch {
      /* not yet */
    }
    if (Date.now() > until) throw new Error(`no /healthz within ${withinMs} ms:\n${s.output()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

if (problem) {
  describe('container image', () => {
    // Only when buildah cannot run here: the reason is the test's name, so the report says why.
    it.skipIf(true)(`skipped: ${problem}`, () => undefined);
  });
} else {
  describe('container image (buildah, the real Dockerfile on a local node:20-bookworm-slim stand-in)', () => {
    let container = '';
    let rootfs = '';
    const timings: Record<string, number> = {};
    const started: Started[] = [];

    beforeAll(async () => {
      let t = Date.now();
      const standin = await sh(join(ROOT, 'test/image/standin.sh'), [], 10 * 60_000);
      timings.standinMs = Date.now() - t;
      t = Date.now();
      await sh('buildah', ['bud', '--isolation', 'chroot', '--pull=never', '--layers', '--format', 'docker', '--quiet', '-t', IMAGE, '-f', join(ROOT, 'Dockerfile'), ROOT], 15 * 60_000);
      timings.buildMs = Date.now() - t;
      container = (await sh('buildah', ['from', '--pull=never', IMAGE])).trim();
      rootfs = (await sh('buildah', ['mount', container])).trim();
      console.log(`image: ${standin.trim()}; stand-in ${Math.round(timings.standinMs / 1000)} s, build ${Math.round(timings.buildMs / 1000)} s`);
    }, 25 * 60_000);

    afterAll(async () => {
      for (const s of started) await stop(s);
      if (container) await sh('buildah', ['rm', container]).catch(() => undefined);
    }, 60_000);

    it('runs as the non-root node user, with the production config and the entrypoint of the Dockerfile', async () => {
      const cfg = JSON.parse(await sh('buildah', ['inspect', '--type', 'image', IMAGE])) as { Docker: { config: { User: string; Env: string[]; Entrypoint: string[]; Cmd: string[]; ExposedPorts: Record<string, unknown>; Healthcheck?: { Test: string[] } } } };
      const c = cfg.Docker.config;
      expect(c.User).toBe('node');
      expect(c.Env).toContain('QUIETWATCH_CONFIG=/etc/quietwatch/quietwatch.yaml');
      expect(c.Env).toContain('NODE_ENV=production');
      expect(c.Entrypoint).toEqual(['node', 'bin/quietwatch.js']);
      expect(Object.keys(c.ExposedPorts)).toEqual(['8080/tcp']);
      expect(c.Healthcheck?.Test.join(' ')).toMatch(/healthz/);
      const id = await sh('buildah', ['run', '--isolation', 'chroot', container, '--', 'sh', '-c', 'id -u; id -g; test -w /app/src && echo writable-src || echo read-only-src; test -w /var/lib/quietwatch && echo writable-data']);
      expect(id.trim().split('\n')).toEqual(['1000', '1000', 'read-only-src', 'writable-data']);
      // The default config is the production one: no sandbox.
      expect(readFileSync(join(rootfs, 'etc/quietwatch/quietwatch.yaml'), 'utf8')).toBe(readFileSync(join(ROOT, 'config/production.yaml'), 'utf8'));
    });

    it('holds the runtime dependencies and no dev dependencies, tests, benchmarks or git history', async () => {
      const list = await sh('buildah', ['run', '--isolation', 'chroot', container, '--', 'node', '-e', `
        const fs = require('fs'), path = require('path');
        const seen = [];
        const walk = (d) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) { const p = path.join(d, e.name); if (e.isDirectory()) { if (p !== '/app/node_modules') walk(p); } else seen.push(p); } };
        walk('/app');
        const mods = fs.readdirSync('/app/node_modules').flatMap((m) => m.startsWith('@') ? fs.readdirSync('/app/node_modules/' + m).map((n) => m + '/' + n) : [m]);
        console.log(JSON.stringify({ files: seen, mods, top: fs.readdirSync('/app') }));
      `]);
      const { files, mods, top } = JSON.parse(list) as { files: string[]; mods: string[]; top: string[] };
      expect(top.sort()).toEqual(['bin', 'config', 'dashboards', 'data', 'node_modules', 'package.json', 'src']);
      for (const dep of Object.keys(pkg.dependencies)) expect(mods, `dependency ${dep}`).toContain(dep);
      // What npm ci --omit=dev leaves out: every package the lockfile marks dev-only (a devDependency
      // that a runtime package also needs, like @types/node for @slack/web-api, is not dev-only).
      const devOnly = Object.entries(lock.packages)
        .filter(([k, v]) => k.startsWith('node_modules/') && !k.slice(13).includes('node_modules/') && v.dev)
        .map(([k]) => k.slice(13));
      expect(devOnly).toContain('vitest');
      expect(devOnly).toContain('typescript');
      expect(mods.filter((m) => devOnly.includes(m))).toEqual([]);
      expect(files.filter((f) => /\.test\.ts$|\/test\/|\/bench\/|\.sqlite/.test(f))).toEqual([]);
      expect(files.some((f) => f.endsWith('/src/main.ts'))).toBe(true);
    });

    it('is a reasonable size', async () => {
      const bytes = Number((await sh('du', ['-sb', rootfs])).split('\t')[0]);
      const base = (await sh('buildah', ['images', '--format', '{{.Size}}', IMAGE])).trim();
      console.log(`image size: ${(bytes / 1e6).toFixed(0)} MB unpacked (buildah images: ${base})`);
      expect(bytes).toBeGreaterThan(150e6);
      expect(bytes).toBeLessThan(500e6);
    });

    it('refuses to listen on 0.0.0.0 without tokens (exit 2, says why)', async () => {
      const s = start(container, ['serve', '--port', String(await freePort())]);
      started.push(s);
      const code = await s.exited;
      expect(code).toBe(2);
      expect(s.output()).toMatch(/refusing to listen on 0\.0\.0\.0 without API tokens/);
    }, 60_000);

    it('starts with tokens on 0.0.0.0: /healthz, /readyz, no checks (no sandbox), its store in the volume owned by node', async () => {
      const port = await freePort();
      // The volume: a host folder owned by uid 1000, as a Docker named volume copies the image's node:node folder.
      const data = mkdtempSync(join(tmpdir(), 'qw-image-data-'));
      chownSync(data, 1000, 1000);
      // Everything the service writes outside its volume and /tmp would break readOnlyRootFilesystem (deploy/kubernetes).
      const marker = join(rootfs, 'tmp', 'qw-image-marker');
      writeFileSync(marker, '');
      await new Promise((r) => setTimeout(r, 1100)); // mtimes after the marker's, at 1 s resolution at worst
      const s = start(container, ['serve', '--host', '0.0.0.0', '--port', String(port), '--store', '/var/lib/quietwatch/quietwatch.sqlite'], { QUIETWATCH_TOKENS: `ingest=${INGEST},read=${READ}` }, [`${data}:/var/lib/quietwatch`]);
      started.push(s);
      const t = Date.now();
      const h = await healthy(s, port);
      console.log(`service healthy ${Date.now() - t} ms after start`);
      expect(await h.json()).toEqual({ status: 'ok' });
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
      expect(((await ready.json()) as { status: string }).status).toBe('ready');
      expect((await fetch(`http://127.0.0.1:${port}/v1/checks`)).status).toBe(401);
      const checks = await fetch(`http://127.0.0.1:${port}/v1/checks`, { headers: { authorization: `Bearer ${READ}` } });
      expect(checks.status).toBe(200);
      expect(JSON.stringify(await checks.json())).not.toMatch(/card-auth/);
      expect(statSync(join(data, 'quietwatch.sqlite')).uid).toBe(1000);
      // The token never reaches the log.
      await stop(s);
      expect(s.output()).not.toContain(INGEST);
      expect(s.output()).not.toContain(READ);
      rmSync(data, { recursive: true, force: true });
      const written = (await sh('find', [rootfs, '-xdev', '-newer', marker, '-not', '-type', 'd']))
        .split('\n')
        .filter(Boolean)
        .map((f) => f.slice(rootfs.length))
        // /tmp is an emptyDir in the pod; buildah run itself binds these
        .filter((f) => !f.startsWith('/tmp/') && !['/etc/hosts', '/etc/resolv.conf', '/etc/hostname', '/run/.containerenv'].includes(f) && !f.startsWith('/dev/') && !f.startsWith('/proc/') && !f.startsWith('/sys/'));
      expect(written, 'files written outside /tmp and the volume').toEqual([]);
    }, 90_000);

    it('serve --sandbox runs the demo instead', async () => {
      const port = await freePort();
      const s = start(container, ['serve', '--sandbox', '--host', '0.0.0.0', '--port', String(port)], { QUIETWATCH_TOKENS: `read=${READ}` });
      started.push(s);
      await healthy(s, port);
      const checks = await fetch(`http://127.0.0.1:${port}/v1/checks`, { headers: { authorization: `Bearer ${READ}` } });
      expect(JSON.stringify(await checks.json())).toMatch(/card-auth-visa/);
      await stop(s);
    }, 90_000);
  });
}
