/**
 * Pure helpers for driver payloads: `{{placeholder}}` templating over JSON values, and
 * dotted JSON paths (`data.id`, `items[0].id`, `items.0.id`).
 */

export type TemplateVars = Record<string, string | number>;

const PLACEHOLDER = /\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}/g;
const WHOLE = /^\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}$/;

/** Placeholders a charge template may use. */
export const CHARGE_PLACEHOLDERS = ['probeId', 'idempotencyKey', 'amount', 'currency', 'check'] as const;
/** Placeholders a reversal template may use. */
export const REVERSE_PLACEHOLDERS = [...CHARGE_PLACEHOLDERS, 'reference'] as const;

/** Every placeholder name used anywhere in a template value (strings, arrays, objects, keys excluded). */
export function placeholdersIn(template: unknown): string[] {
  const found = new Set<string>();
  const walk = (v: unknown): void => {
    if (typeof v === 'string') for (const m of v.matchAll(PLACEHOLDER)) found.add(m[1]!);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(template);
  return [...found];
}

/**
 * Substitute placeholders in every JSON string value. A string that is exactly one placeholder
 * takes the variable's own type (so `"{{amount}}"` becomes the number 1200); a placeholder inside a
 * longer string is substituted as text. Unknown placeholders throw (config validation stops them first).
 */
export function renderTemplate(template: unknown, vars: TemplateVars): unknown {
  if (typeof template === 'string') {
    const whole = WHOLE.exec(template);
    if (whole) return lookup(vars, whole[1]!);
    return renderString(template, vars);
  }
  if (Array.isArray(template)) return template.map((v) => renderTemplate(v, vars));
  if (template && typeof template === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(template)) out[k] = renderTemplate(v, vars);
    return out;
  }
  return template;
}

/** Substitute placeholders in a string; `encode` is applied to each substituted value (URLs). */
export function renderString(template: string, vars: TemplateVars, encode: (s: string) => string = (s) => s): string {
  return template.replace(PLACEHOLDER, (_m, name: string) => encode(String(lookup(vars, name))));
}

function lookup(vars: TemplateVars, name: string): string | number {
  if (!Object.prototype.hasOwnProperty.call(vars, name)) throw new Error(`unknown placeholder {{${name}}}`);
  return vars[name]!;
}

/** Read a dotted path (`data.id`, `items[0].id`) from a parsed JSON value. */
export function getPath(value: unknown, path: string): unknown {
  const parts = path.replace(/\[(\d+)\]/g, '.$1').split('.').filter(Boolean);
  let cur: unknown = value;
  for (const p of parts) {
    if (cur === null || cur === undefined) return undefined;
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (typeof cur === 'object') cur = (cur as Record<string, unknown>)[p];
    else return undefined;
  }
  return cur;
}
