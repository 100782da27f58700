/**
 * vitest globalSetup: the CLI bundled once per run (esbuild, which tsx already brings), so the
 * service and CLI processes the suite spawns do not each run tsx's loader and transform: a `serve`
 * reaches /healthz on 0.6 CPU-s instead of 1.0–1.3 (measured 2026-12-03). Packages stay external
 * (loaded from node_modules as in production); only src/ is bundled.
 *
 * The real entry point is still exercised: test/pg/migrate.test.ts, test/alerts/pages-checklist.test.ts
 * and the image test run `node bin/quietwatch.js` (tsx), and QW_TEST_TSX=1 makes every spawn use it.
 */
import { copyFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const BUNDLE_DIR = join(import.meta.dirname, '..', '..', 'node_modules', '.cache', 'quietwatch');
const BUNDLE_BIN = join(BUNDLE_DIR, 'bin.mjs');

export async function setup(): Promise<void> {
  if (process.env.QW_TEST_TSX) return;
  mkdirSync(BUNDLE_DIR, { recursive: true });
  const tmp = join(BUNDLE_DIR, `cli.${process.pid}.mjs`);
  await build({
    entryPoints: [join(import.meta.dirname, '..', '..', 'src', 'cli.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    outfile: tmp,
    logLevel: 'warning',
  });
  // The SQLite writer thread loads this module by its path next to the code (src/store/sqlite-writer.ts):
  // next to the bundle, it is found the same way.
  copyFileSync(join(import.meta.dirname, '..', '..', 'src', 'store', 'write-ops.cjs'), join(BUNDLE_DIR, 'write-ops.cjs'));
  renameSync(tmp, join(BUNDLE_DIR, 'cli.mjs'));
  writeFileSync(BUNDLE_BIN, "// written by test/helpers/cli-bundle.ts\nconst { program } = await import('./cli.mjs');\nawait program.parseAsync(process.argv);\n");
  process.env.QW_TEST_BIN = BUNDLE_BIN;
}
