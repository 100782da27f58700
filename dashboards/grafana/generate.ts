/**
 * Writes the dashboards to dashboards/grafana/json/ (committed). Run after changing dashboards.ts:
 *
 *   npx tsx dashboards/grafana/generate.ts          # write
 *   npx tsx dashboards/grafana/generate.ts --check  # exit 1 when the committed JSON is stale
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DASHBOARDS, importable } from './dashboards.ts';

export { allPanelQueries, allVariableQueries, checkDrilldown, officeScreen } from './dashboards.ts';

export const JSON_DIR = join(dirname(fileURLToPath(import.meta.url)), 'json');
/** For Grafana's UI import; outside json/, which the provisioning reads (same uids). */
export const IMPORT_DIR = join(dirname(fileURLToPath(import.meta.url)), 'import');

/**
 * File name -> the JSON text the generator writes: `NAME.json` for provisioning (the fixed datasource
 * uid), `../import/NAME.json` (dashboards/grafana/import/) for Grafana's UI import (`__inputs`, `__requires`).
 */
export function renderDashboards(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [file, make] of Object.entries(DASHBOARDS)) {
    out[file] = `${JSON.stringify(make(), null, 2)}\n`;
    out[`../import/${file}`] = `${JSON.stringify(importable(make()), null, 2)}\n`;
  }
  return out;
}

/** Files whose committed JSON differs from what the code generates. */
export function staleFiles(dir = JSON_DIR): string[] {
  const stale: string[] = [];
  for (const [file, text] of Object.entries(renderDashboards())) {
    let current = '';
    try {
      current = readFileSync(join(dir, file), 'utf8');
    } catch {
      /* missing counts as stale */
    }
    if (current !== text) stale.push(file);
  }
  return stale;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--check')) {
    const stale = staleFiles();
    if (stale.length) {
      console.error(`stale dashboard JSON: ${stale.join(', ')} — run: npx tsx dashboards/grafana/generate.ts`);
      process.exit(1);
    }
    console.log('dashboard JSON is up to date');
  } else {
    mkdirSync(IMPORT_DIR, { recursive: true });
    for (const [file, text] of Object.entries(renderDashboards())) {
      writeFileSync(join(JSON_DIR, file), text);
      console.log(`wrote ${join(JSON_DIR, file)}`);
    }
  }
}
