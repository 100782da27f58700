/**
 * What the engine's `alert` effects mean to alerting: a down check opens (or joins) an incident and
 * pages, a recovered one resolves it, a warning goes to the warning route. The links a page carries
 * (runbook, dashboard) come from the check's config, held here once. Also the restart rule that
 * keeps flips and incidents consistent.
 */
import type { CheckRuntime } from '../checks/runtime.ts';
import type { CheckConfig } from '../config/schema.ts';
import type { NamedHandler } from '../effects/router.ts';
import type { Clock } from '../lib/clock.ts';
import { BurstLog, type Logger } from '../lib/logger.ts';
import type { AlertManager } from './manager.ts';

export interface AlertEffectsDeps {
  alerts: AlertManager;
  checks: readonly CheckConfig[];
  clock: Clock;
  logger: Logger;
}

export class AlertEffects {
  private readonly links = new Map<string, { runbookUrl?: string; dashboardUrl?: string }>();
  private readonly burst: BurstLog;

  constructor(private readonly d: AlertEffectsDeps) {
    this.burst = new BurstLog(d.logger);
    // Only checks that have links (an empty object for each of 100,000 checks is memory for nothing).
    for (const c of d.checks) {
      if (c.runbook || c.dashboard) this.links.set(c.name, { ...(c.runbook ? { runbookUrl: c.runbook } : {}), ...(c.dashboard ? { dashboardUrl: c.dashboard } : {}) });
    }
  }

  readonly onAlert: NamedHandler<'alert'> = {
    name: 'alerts',
    handle: (effect, { spec }) => {
      const kind = effect.kind === 'down' ? 'PAGE' : effect.kind === 'recovered' ? 'RESOLVED' : 'WARNING';
      const msg = () => `${kind} ${spec.name}: ${effect.reason}`;
      // In a storm the first lines of each kind are logged, the rest summarised (src/lib/logger.ts
      // BurstLog): their fields are built only for the lines written.
      if (effect.kind === 'down') this.burst.line('error', kind, spec.name, () => ({ alert: effect.kind, at: new Date(effect.at).toISOString(), details: effect.details }), msg);
      else this.burst.line('warn', kind, spec.name, () => ({ alert: effect.kind, warning: effect.warning, at: new Date(effect.at).toISOString() }), msg);
      const details = { ...effect.details, ...this.links.get(spec.name) };
      const { alerts } = this.d;
      const run: Promise<unknown> =
        effect.kind === 'down'
          ? alerts.checkDown({ check: spec.name, labels: spec.labels, at: effect.at, reason: effect.reason, details })
          : effect.kind === 'recovered'
            ? alerts.checkRecovered({ check: spec.name, at: effect.at, reason: effect.reason, details })
            : alerts.warning({ check: spec.name, labels: spec.labels, at: effect.at, kind: effect.warning ?? 'quiet', summary: effect.reason, details });
      // Not chained: the AlertManager applies calls in the order they are made (down before
      // recovered), so a storm of 100,000 downs is one batch. The router awaits (drain), catches,
      // logs, counts and reports a failure.
      return run.then(() => undefined);
    },
  };


  /**
   * Flips and incidents are written in two steps: a crash between them must not lose a page or leave
   * an incident open. At start: a down check has an open incident, and only a down one.
   */
  async reconcile(runtime: CheckRuntime): Promise<void> {
    const { alerts, clock } = this.d;
    // Down (or held) members of open incidents: a group incident has many checks.
    const openChecks = alerts.downChecks();
    const calls: Promise<unknown>[] = [];
    for (const name of runtime.names()) {
      const st = runtime.state(name)!;
      const spec = runtime.spec(name)!;
      if (st.status === 'down' && !openChecks.has(name)) {
        const reason = `down since ${new Date(st.since).toISOString()} (page restored after a restart)`;
        calls.push(alerts.checkDown({
          check: name,
          labels: spec.labels,
          at: st.since,
          reason,
          details: { state: 'down', lastEventAt: st.lastEventAt, silenceMs: clock.now() - st.watchFrom, ...this.links.get(name) },
        }));
      } else if (st.status !== 'down' && openChecks.has(name)) {
        // The incident was stored but the check's down flip was not (a crash between two write-behind
        // stores): when its page deadline has passed, the runtime flips it down on its first turn,
        // into this same incident. Resolving it here would flap the page (resolve, then trigger again).
        const pageAt = runtime.snapshot(name)?.deadlines.pageAt;
        if (pageAt != null && pageAt <= clock.now()) continue;
        calls.push(alerts.checkRecovered({ check: name, at: st.since, reason: `${st.status} since ${new Date(st.since).toISOString()}` }));
      }
    }
    // Applied in order, stored in one batch.
    await Promise.all(calls);
  }
}
