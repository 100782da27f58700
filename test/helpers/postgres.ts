/**
 * A real, throwaway PostgreSQL cluster for tests: initdb as the `postgres` user into a fresh temporary
 * folder, pg_ctl start on a free loopback port with the unix socket in that folder, a password-protected
 * role and database. stop() removes everything; stopCluster()/startCluster() take the server away and
 * bring it back on the same port and data (the "PostgreSQL down for 60 s" tests).
 *
 * PostgreSQL refuses to run as root: when the tests run as root, every server command runs through
 * `runuser -u postgres`. Debian's binaries live in /usr/lib/postgresql/<major>/bin.
 */
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './process.ts';

export interface PgCluster {
  /** postgres://quietwatch:<password>@127.0.0.1:<port>/quietwatch */
  url: string;
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  dir: string;
  /** A URL for another database on this cluster (created when missing). */
  createDatabase(name: string): string;
  /** Run SQL as the superuser over the unix socket; returns psql's unaligned output. */
  psql(sql: string, database?: string): string;
  /** Stop the server (fast shutdown): connections fail until startCluster(). */
  stopCluster(): void;
  /** Start it again on the same port and data. */
  startCluster(): void;
  /** Stop and remove the folder. Idempotent. */
  stop(): void;
}

export function pgBinDir(): string {
  if (process.env.QUIETWATCH_PG_BIN) return process.env.QUIETWATCH_PG_BIN;
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const majors = readdirSync(base)
      .filter((d) => existsSync(join(base, d, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (majors[0]) return join(base, majors[0], 'bin');
  }
  return '/usr/bin';
}

export function postgresAvailable(): boolean {
  return existsSync(join(pgBinDir(), 'initdb')) && existsSync(join(pgBinDir(), 'pg_ctl'));
}

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function run(bin: string, args: string[], opts: ExecFileSyncOptions = {}): string {
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  return execFileSync(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...opts }) as unknown as string;
}

/** Start a fresh cluster. Throws with the server log when it cannot start. */
export async function startPostgres(opts: { password?: string } = {}): Promise<PgCluster> {
  const bin = pgBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'qw-pg-'));
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  const pwfile = join(dir, 'pw');
  const user = 'quietwatch';
  const database = 'quietwatch';
  const password = opts.password ?? `pw-${Math.random().toString(36).slice(2)}-Secret`;
  writeFileSync(pwfile, 'postgres-superuser\n');
  if (asRoot) {
    // the postgres user must own the folder; mkdtemp makes it 0700 for root
    const { uid, gid } = postgresIds();
    chownSync(dir, uid, gid);
    chownSync(pwfile, uid, gid);
  }
  chmodSync(dir, 0o700);
  run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--pwfile', pwfile, '-A', 'scram-sha-256', '--auth-local=trust', '-E', 'UTF8', '--no-sync', '--locale=C'], { cwd: dir });
  const port = await freePort();
  const conf = [
    `port = ${port}`,
    `listen_addresses = '127.0.0.1'`,
    `unix_socket_directories = '${dir}'`,
    'fsync = off',
    'synchronous_commit = on',
    'full_page_writes = off',
    'max_connections = 100',
    'shared_buffers = 32MB',
    "log_min_messages = warning",
  ].join('\n');
  writeFileSync(join(data, 'postgresql.auto.conf'), conf + '\n');
  if (asRoot) {
    const { uid, gid } = postgresIds();
    chownSync(join(data, 'postgresql.auto.conf'), uid, gid);
  }
  const start = () => {
    try {
      run(join(bin, 'pg_ctl'), ['-D', data, '-l', log, '-w', '-t', '30', 'start'], { cwd: dir });
    } catch (err) {
      let tail = '';
      try {
        tail = execFileSync('tail', ['-n', '30', log], { encoding: 'utf8' });
      } catch {
        /* no log */
      }
      throw new Error(`could not start PostgreSQL in ${dir}: ${(err as Error).message}\n${tail}`);
    }
  };
  start();
  const psql = (sql: string, db = 'postgres') =>
    run(join(bin, 'psql'), ['-h', dir, '-p', String(port), '-U', 'postgres', '-d', db, '-v', 'ON_ERROR_STOP=1', '-qAt', '-c', sql], { cwd: dir }).trim();
  psql(`CREATE ROLE ${user} LOGIN PASSWORD '${password.replace(/'/g, "''")}'`);
  psql(`CREATE DATABASE ${database} OWNER ${user}`);
  const host = '127.0.0.1';
  const urlFor = (db: string) => `postgres://${user}:${encodeURIComponent(password)}@${host}:${port}/${db}`;
  let stopped = false;
  let running = true;
  const cluster: PgCluster = {
    url: urlFor(database),
    host,
    port,
    user,
    password,
    database,
    dir,
    psql,
    createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
      const exists = psql(`SELECT 1 FROM pg_database WHERE datname = '${name}'`);
      if (!exists) psql(`CREATE DATABASE ${name} OWNER ${user}`);
      return urlFor(name);
    },
    stopCluster() {
      if (!running) return;
      run(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'], { cwd: dir });
      running = false;
    },
    startCluster() {
      if (running) return;
      start();
      running = true;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      try {
        if (running) run(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'], { cwd: dir });
      } catch {
        /* already gone */
      }
      running = false;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}

let ids: { uid: number; gid: number } | undefined;
function postgresIds(): { uid: number; gid: number } {
  if (ids) return ids;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  ids = { uid, gid };
  return ids;
}
