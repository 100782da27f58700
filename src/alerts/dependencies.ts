/**
 * Check dependencies (`checks[].dependsOn`). Pure.
 *
 * While an upstream check is down (Kapacitor's `inhibit`), a dependent that goes down does not page:
 * it is recorded as a `held` member of the upstream's incident ("held: acquirer-gateway is down").
 * When the upstream recovers, a dependent that is still down is released: it pages on its own (and
 * joins its group as usual). A dependent that recovers while held never pages.
 *
 * Unknown names and cycles are config errors, reported all at once with their paths.
 */

export type Dependencies = ReadonlyMap<string, readonly string[]>;

export interface DependencyProblem {
  path: (string | number)[];
  message: string;
}

/** Every problem in `checks[].dependsOn`: unknown checks, a check depending on itself, cycles. */
export function validateDependencies(checks: readonly { name: string; dependsOn?: readonly string[] }[]): DependencyProblem[] {
  const problems: DependencyProblem[] = [];
  // Nothing to check without dependsOn (100,000 checks: four maps and an array a check, for nothing).
  if (!checks.some((c) => c.dependsOn !== undefined)) return problems;
  const index = new Map(checks.map((c, i) => [c.name, i]));
  checks.forEach((c, i) =>
    c.dependsOn?.forEach((d, j) => {
      if (d === c.name) problems.push({ path: ['checks', i, 'dependsOn', j], message: `a check cannot depend on itself ("${d}")` });
      else if (!index.has(d)) problems.push({ path: ['checks', i, 'dependsOn', j], message: `unknown check "${d}"` });
    }),
  );
  // Cycles: depth-first search, each cycle reported once at the check where it was closed.
  const graph = new Map(checks.map((c) => [c.name, (c.dependsOn ?? []).filter((d) => d !== c.name && index.has(d))]));
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const reported = new Set<string>();
  const visit = (n: string): void => {
    state.set(n, 'open');
    stack.push(n);
    for (const d of graph.get(n) ?? []) {
      const s = state.get(d);
      if (s === 'open') {
        const cycle = [...stack.slice(stack.indexOf(d)), d];
        const id = [...cycle.slice(0, -1)].sort().join('\u0000');
        if (!reported.has(id)) {
          reported.add(id);
          const i = index.get(n)!;
          const j = checks[i]!.dependsOn!.indexOf(d);
          problems.push({ path: ['checks', i, 'dependsOn', j], message: `dependency cycle: ${cycle.join(' -> ')}` });
        }
      } else if (s === undefined) visit(d);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const c of checks) if (!state.has(c.name)) visit(c.name);
  return problems;
}

/** `checks[2].dependsOn[0]: unknown check "x"` */
export function formatProblem(p: DependencyProblem): string {
  const path = p.path.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${k}` : k), '');
  return `${path}: ${p.message}`;
}

/** The map the AlertManager takes, from the checks' config. */
export function dependenciesFrom(checks: readonly { name: string; dependsOn?: readonly string[] }[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const c of checks) if (c.dependsOn?.length) m.set(c.name, [...c.dependsOn]);
  return m;
}

/** The first upstream of `check` that is down now, if any. */
export function downUpstream(deps: Dependencies, check: string, isDown: (check: string) => boolean): string | undefined {
  return deps.get(check)?.find((u) => isDown(u));
}
