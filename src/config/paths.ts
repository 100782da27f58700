/** Where the embedded default config lives: a module of its own so the CLI's client commands need not load the schema. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package's root: the nearest folder above this module holding config/quietwatch.yaml. Found by
 * walking up rather than a fixed '../..', so the same code works from src/config/ (tsx), from the
 * image's /app/src/config/ and from a bundled single file (the tests' prebuilt CLI, see test/helpers/cli-bundle.ts).
 */
function packageRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'config', 'quietwatch.yaml')) && existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return join(start, '..', '..');
  }
}

export const DEFAULT_CONFIG_PATH = join(packageRoot(), 'config', 'quietwatch.yaml');
