/** Where the embedded default config lives: a module of its own so the CLI's client commands need not load the schema. */
import { fileURLToPath } from 'node:url';

export const DEFAULT_CONFIG_PATH = fileURLToPath(new URL('../../config/quietwatch.yaml', import.meta.url));
