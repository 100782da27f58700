/**
 * `quietwatch backtest` runs the deployed check without the service: nothing under src/backtest/
 * reaches src/main.ts, nor the service's server, store and acquirer dependencies (Fastify, SQLite,
 * PostgreSQL, Stripe), through any chain of imports. (The config loader still reaches the SNS and
 * Slack SDKs: src/config/schema.ts -> src/alerts/config.ts -> src/alerts/registry.ts -> each
 * notifier's module, for its config schema.)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '..', '..', 'src');
const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(?!type\b)(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]/g;
const DYNAMIC = /import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Every module reachable from `entry` by value imports (type-only imports load nothing). */
function reachable(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    for (const re of [IMPORT, DYNAMIC]) {
      for (const m of text.matchAll(re)) {
        const spec = m[1]!;
        if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
        else packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
      }
    }
  };
  visit(entry);
  return { files, packages };
}

describe('src/backtest imports', () => {
  const entries = readdirSync(join(SRC, 'backtest')).filter((f) => f.endsWith('.ts')).map((f) => join(SRC, 'backtest', f));

  it('nothing under src/backtest reaches src/main.ts or the service\'s I/O dependencies', () => {
    expect(entries.length).toBeGreaterThan(3);
    for (const e of entries) {
      const { files, packages } = reachable(e);
      expect([...files].filter((f) => f.endsWith(join('src', 'main.ts')))).toEqual([]);
      for (const heavy of ['fastify', 'better-sqlite3', 'stripe', 'pg']) expect(packages.has(heavy), `${e} reaches ${heavy}`).toBe(false);
    }
  });

  it('the walk does see real imports (the engine, the learned model, the rate windows)', () => {
    const { files } = reachable(join(SRC, 'backtest', 'run.ts'));
    for (const f of ['checks/engine.ts', 'learn/model.ts', 'learn/rate-windows.ts']) expect([...files].some((x) => x.endsWith(f))).toBe(true);
  });
});
