#!/usr/bin/env node
// Runs the TypeScript CLI through tsx (no build step). Works when called directly, through
// npx / node_modules/.bin symlinks, and from the Docker image.
import { register } from 'tsx/esm/api';
register();
const { program } = await import('../src/cli.ts');
await program.parseAsync(process.argv);
