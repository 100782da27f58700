/**
 * Issue 16 item 8: an unusable store file stops `quietwatch serve` with a message naming the path
 * and what is wrong, exit code 2, no stack trace, and the file untouched.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, runCli } from '../helpers/process.ts';
import { tempDir } from '../helpers/service.ts';

const dirs: string[] = [];
/** Read-only tmpfs mounts (root): unmounted before their directories go. */
const roMounts: string[] = [];
afterAll(() => {
  for (const d of roMounts) spawnSync('umount', ['-l', d]);
  for (const d of dirs) {
    try {
      chmodSync(d, 0o755);
    } catch {
      /* gone */
    }
    rmSync(d, { recursive: true, force: true });
  }
});

async function serve(storePath: string): Promise<{ code: number | null; text: string }> {
  const dir = tempDir('qw-start-');
  dirs.push(dir);
  const cfg = join(dir, 'config.yaml');
  writeFileSync(cfg, `store: { path: ${JSON.stringify(storePath)} }\nchecks:\n  - { name: c, quietAfter: 30s, pageAfter: 2m }\n`);
  const p = runCli(['serve', '--config', cfg, '--port', String(await freePort())], { QUIETWATCH_LOG_LEVEL: 'warn' });
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 20_000);
  const code = await p.exited;
  clearTimeout(timer);
  const text = p
    .lines()
    .map((l) => (typeof l.text === 'string' ? l.text : JSON.stringify(l)))
    .join('\n');
  return { code, text };
}

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
const noStack = (text: string) => expect(text).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);

describe('start-up errors name the store path, exit 2 and touch nothing', () => {
  it('a file that is not a SQLite database', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const file = join(dir, 'qw.sqlite');
    writeFileSync(file, 'these are my notes, not a database\n'.repeat(200));
    const before = sha(file);
    const r = await serve(file);
    expect(r.code).toBe(2);
    expect(r.text).toContain(file);
    expect(r.text).toMatch(/is not a SQLite database \(it starts with "these are my not/);
    noStack(r.text);
    expect(sha(file)).toBe(before);
    expect(existsSync(`${file}-wal`) || existsSync(`${file}-shm`)).toBe(false);
  }, 30_000);

  it('a corrupt SQLite file', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const file = join(dir, 'qw.sqlite');
    const db = new BetterSqlite3(file);
    db.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1), (2);');
    db.close();
    // Keep the header, wreck the schema page.
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(3000, 0xa5), 0, 3000, 100);
    closeSync(fd);
    const before = sha(file);
    const r = await serve(file);
    expect(r.code).toBe(2);
    expect(r.text).toContain(file);
    expect(r.text).toMatch(/corrupt|malformed|not a SQLite database/);
    noStack(r.text);
    expect(sha(file)).toBe(before);
    expect(existsSync(`${file}-wal`)).toBe(false);
  }, 30_000);

  it('a read-only directory', async () => {
    let file: string;
    if (process.getuid?.() === 0) {
      // root writes through chmod: a read-only tmpfs refuses new files even to root (sysfs if
      // mounting is not allowed here).
      const dir = tempDir();
      dirs.push(dir);
      const ro = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', dir]);
      if (ro.status === 0) roMounts.push(dir);
      file = ro.status === 0 ? join(dir, 'qw.sqlite') : '/sys/quietwatch-test.sqlite';
    } else {
      const dir = tempDir();
      dirs.push(dir);
      chmodSync(dir, 0o555);
      file = join(dir, 'qw.sqlite');
    }
    const r = await serve(file);
    expect(r.code).toBe(2);
    expect(r.text).toContain(file);
    expect(r.text).toMatch(/cannot be created|not writable|cannot open/i);
    noStack(r.text);
    expect(existsSync(file)).toBe(false);
  }, 30_000);

  it('a directory where the file should be', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const file = join(dir, 'qw.sqlite');
    mkdirSync(file);
    const r = await serve(file);
    expect(r.code).toBe(2);
    expect(r.text).toMatch(/is not a file but a directory/);
    expect(r.text).toContain(file);
    noStack(r.text);
  }, 30_000);
});
