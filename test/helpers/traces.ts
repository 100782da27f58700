/** Where the shared real traffic traces are (../shared/traces next to the repository; see its README). */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const TRACES_DIR =
  process.env.TRACES_DIR ?? [join(import.meta.dirname, '..', '..', '..', 'shared', 'traces'), '/work/shared/traces'].find((d) => existsSync(d)) ?? '/work/shared/traces';

export const tracePath = (file: string): string => join(TRACES_DIR, file);
