/**
 * Load a config: YAML -> ${ENV} substitution -> zod validation. Every problem is reported at once
 * with its path (`checks[1].pageAfter must be longer than quietAfter`); a bad config never starts.
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { configSchema, type Config } from './schema.ts';
import { unknownKeys } from './strict.ts';
import { OFF_THREAD_BYTES, parseYamlOffThread } from './yaml-off-thread.ts';

import { DEFAULT_CONFIG_PATH } from './paths.ts';

export { DEFAULT_CONFIG_PATH };

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`invalid config ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(root)';
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}/g;

/** Replace `${VAR}` / `${VAR:-default}` inside string values (not in keys, never in YAML text). */
export function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, problems: string[], path: (string | number)[] = []): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (_m, name: string, def: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (def !== undefined) return def;
      problems.push(`${formatPath(path)} refers to environment variable ${name}, which is not set`);
      return '';
    });
  }
  // Copied only where something was substituted: a 100,000-check config has nothing to substitute
  // in its checks, and a copy of them was ~35 MB of start-up garbage (kept as RSS by V8).
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    value.forEach((v, i) => {
      const w = plain(v) ? v : substituteEnv(v, env, problems, [...path, i]);
      if (w !== v) (out ??= value.slice())[i] = w;
    });
    return out ?? value;
  }
  if (value && typeof value === 'object') {
    let out: Record<string, unknown> | undefined;
    for (const [k, v] of Object.entries(value)) {
      const w = plain(v) ? v : substituteEnv(v, env, problems, [...path, k]);
      if (w !== v) (out ??= { ...value })[k] = w;
    }
    return out ?? value;
  }
  return value;
}

/** A value with nothing to substitute (no path is made for it: a 100,000-check config has a million). */
const plain = (v: unknown): boolean => (typeof v === 'string' ? !v.includes('${') : v === null || typeof v !== 'object');

/** Tokens from the environment: QUIETWATCH_TOKENS="ingest=TOKEN1,read+admin=TOKEN2". */
export function tokensFromEnv(env: NodeJS.ProcessEnv): Array<{ name: string; token: string; scopes: string[] }> {
  const raw = env.QUIETWATCH_TOKENS;
  if (!raw) return [];
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry, i) => {
      const eq = entry.indexOf('=');
      const scopes = eq > 0 ? entry.slice(0, eq).split('+') : [];
      return { name: `env-token-${i + 1}`, token: eq > 0 ? entry.slice(eq + 1) : entry, scopes };
    });
}

/** A YAML parser message as a config problem: its first line (the rest is a picture of the spot). */
const yamlProblem = (message: string) => `YAML: ${message.split('\n')[0]}`;

export function parseConfig(text: string, source = '<config>', env: NodeJS.ProcessEnv = process.env): Config {
  // JSON is YAML: a generated config (thousands of checks) skips the much slower YAML parser.
  let raw: Record<string, unknown> | undefined;
  if (/^\s*\{/.test(text)) {
    try {
      raw = JSON.parse(text) as Record<string, unknown>;
    } catch {
      raw = undefined; // not JSON after all: YAML says why
    }
  }
  if (raw === undefined && text.length >= OFF_THREAD_BYTES) {
    const r = parseYamlOffThread(text);
    if (r.errors) throw new ConfigError(source, r.errors.map(yamlProblem));
    raw = r.value as Record<string, unknown>;
  }
  if (raw === undefined) {
    const doc = parseDocument(text, { prettyErrors: true });
    if (doc.errors.length > 0) {
      throw new ConfigError(source, doc.errors.map((e) => yamlProblem(e.message)));
    }
    raw = (doc.toJS() ?? {}) as Record<string, unknown>;
  }
  const problems: string[] = [];
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(source, ['(root) must be a mapping']);
  const substituted = substituteEnv(raw, env, problems) as Record<string, unknown>;
  const envTokens = tokensFromEnv(env);
  if (envTokens.length > 0) {
    const auth = (substituted.auth ?? {}) as Record<string, unknown>;
    substituted.auth = { ...auth, tokens: [...((auth.tokens as unknown[]) ?? []), ...envTokens] };
  }
  // QUIETWATCH_STORE_URL: the PostgreSQL store without putting its password in the file
  if (env.QUIETWATCH_STORE_URL) substituted.store = { ...((substituted.store ?? {}) as Record<string, unknown>), url: env.QUIETWATCH_STORE_URL };
  // Unknown keys at any depth are errors (zod would strip them: a misspelt `probe:` removes the probe).
  for (const u of unknownKeys(configSchema, substituted)) {
    problems.push(`${formatPath([...u.path, u.key])} is not a known key${u.suggestion ? `: did you mean "${u.suggestion}"?` : ''}`);
  }
  const result = configSchema.safeParse(substituted);
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') continue; // reported above, with suggestions
      problems.push(`${formatPath(issue.path)} ${describeIssue(issue, substituted)}`);
    }
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(source, problems);
  shareCheckParts(result.data.checks);
  return result.data;
}

const NO_MATCH = Object.freeze({}) as Config['checks'][number]['match'];

/**
 * Checks that carry the same labels share one (frozen) labels object, and checks without a match
 * one empty match: the config stays in memory for the life of the service, and 100,000 checks each
 * with their own `{scheme, region}` and `{}` were ~110 bytes a check. Nothing changes these objects.
 */
function shareCheckParts(checks: Config['checks']): void {
  const seen = new Map<string, Record<string, string>>();
  for (const c of checks) {
    if (Object.keys(c.match).length === 0) c.match = NO_MATCH;
    const key = JSON.stringify(c.labels);
    const same = seen.get(key);
    if (same) c.labels = same;
    else seen.set(key, Object.freeze(c.labels));
  }
}

/** A missing key says "is required", not zod's "Invalid input: expected string, received undefined". */
function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  let v: unknown = input;
  for (const k of issue.path) v = v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k as PropertyKey] : undefined;
  const missing = v === undefined && issue.path.length > 0;
  if (missing && (issue.code === 'invalid_type' || issue.code === 'invalid_union')) return `is required${issue.code === 'invalid_type' ? ` (${issue.expected})` : ''}`;
  return issue.message;
}

export function loadConfig(path: string = DEFAULT_CONFIG_PATH, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [`cannot read the file: ${(err as Error).message}`]);
  }
  return parseConfig(text, path, env);
}

/** The JSON Schema editors use for completion (published as config/quietwatch.schema.json). */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' });
}
