/**
 * Unknown keys in config, at any depth. Zod strips keys it does not know, so a misspelt `probe:`
 * would silently remove the probe. This walks the input beside the schema — objects, arrays,
 * records, unions (the branch the input fits best), wrappers — and reports every key no schema
 * knows, with its path and, when a known key is close, "did you mean `probe`?".
 *
 * It reads the schema's definition (zod 4 `_zod.def`), so every schema of every module is covered
 * without each having to remember `.strict()`; an object with a catchall accepts any key.
 */
import { closest, distance } from 'fastest-levenshtein';
import type { z } from 'zod';

export interface UnknownKey {
  path: Array<string | number>;
  key: string;
  suggestion?: string;
}

type Def = { type: string; [k: string]: unknown };
const defOf = (s: unknown): Def | undefined => (s as { _zod?: { def?: Def } } | undefined)?._zod?.def;

export function unknownKeys(schema: z.ZodType, input: unknown): UnknownKey[] {
  const out: UnknownKey[] = [];
  walk(schema, input, [], out);
  return out;
}

export function describeUnknown(u: UnknownKey): string {
  return `unknown key "${u.key}"${u.suggestion ? `: did you mean "${u.suggestion}"?` : ''}`;
}

function suggest(key: string, known: string[]): string | undefined {
  if (known.length === 0) return undefined;
  const best = closest(key, known);
  const d = distance(key.toLowerCase(), best.toLowerCase());
  return d <= Math.max(1, Math.floor(Math.max(key.length, best.length) / 3)) ? best : undefined;
}

function walk(schema: unknown, input: unknown, path: Array<string | number>, out: UnknownKey[], depth = 0): void {
  const def = defOf(schema);
  if (!def || input === undefined || input === null || depth > 64) return;
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'catch':
    case 'readonly':
    case 'nonoptional':
      return walk(def.innerType, input, path, out, depth + 1);
    case 'pipe':
      return walk(def.in, input, path, out, depth + 1);
    case 'lazy':
      return walk((def.getter as () => unknown)(), input, path, out, depth + 1);
    case 'array':
      if (Array.isArray(input)) input.forEach((v, i) => walk(def.element, v, [...path, i], out, depth + 1));
      return;
    case 'record':
      if (isPlainObject(input)) for (const [k, v] of Object.entries(input)) walk(def.valueType, v, [...path, k], out, depth + 1);
      return;
    case 'intersection': {
      // A key is unknown only if neither side knows it.
      const left: UnknownKey[] = [];
      const right: UnknownKey[] = [];
      walk(def.left, input, path, left, depth + 1);
      walk(def.right, input, path, right, depth + 1);
      const r = new Set(right.map((u) => `${u.path.join('.')}/${u.key}`));
      out.push(...left.filter((u) => r.has(`${u.path.join('.')}/${u.key}`)));
      return;
    }
    case 'union': {
      const options = def.options as unknown[];
      const disc = def.discriminator as string | undefined;
      let candidates = options;
      if (disc && isPlainObject(input)) {
        const byDisc = options.filter((o) => {
          const shape = defOf(o)?.shape as Record<string, unknown> | undefined;
          const lit = defOf(shape?.[disc]);
          return lit?.type === 'literal' && (lit.values as unknown[]).includes(input[disc]);
        });
        if (byDisc.length) candidates = byDisc;
      }
      // An object is judged only by the branches that accept it: a `true | {…}` union's literal
      // branch has no keys to report, and would otherwise pass every misspelt key of the object.
      if (isPlainObject(input) && candidates.length > 1) {
        const accepting = candidates.filter((o) => (o as { safeParse?: (v: unknown) => { success: boolean } }).safeParse?.(input).success);
        if (accepting.length) candidates = accepting;
      }
      // The branch the input fits best: the fewest unknown keys (an exact fit reports nothing).
      let best: UnknownKey[] | undefined;
      for (const o of candidates) {
        const found: UnknownKey[] = [];
        walk(o, input, path, found, depth + 1);
        if (!best || found.length < best.length) best = found;
        if (found.length === 0) break;
      }
      if (best) out.push(...best);
      return;
    }
    case 'object': {
      if (!isPlainObject(input)) return;
      const shape = def.shape as Record<string, unknown>;
      const catchall = defOf(def.catchall);
      const known = Object.keys(shape);
      for (const [k, v] of Object.entries(input)) {
        if (k in shape) walk(shape[k], v, [...path, k], out, depth + 1);
        else if (!catchall || catchall.type === 'never') {
          const s = suggest(k, known);
          out.push({ path, key: k, ...(s ? { suggestion: s } : {}) });
        } else walk(def.catchall, v, [...path, k], out, depth + 1);
      }
      return;
    }
    default:
      return;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
