/**
 * Probes in the service: the ProbeManager (charges, budgets, idempotency, reversals) wired to the
 * engine. It owns what the engine's probe effects mean (fire, proven, lost), how a driver's answer
 * goes back to the engine (a `probe-result` input), the probe API routes, scheduled probes, and the
 * restart rule for charges interrupted by a crash.
 */
import type { CheckRuntime } from '../checks/runtime.ts';
import type { CheckConfig, Config } from '../config/schema.ts';
import type { ApiPlugin } from '../api/server.ts';
import { errorBody } from '../api/server.ts';
import type { NamedHandler } from '../effects/router.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { MetricsSink } from '../metrics/sink.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { ProbeManager } from './manager.ts';
import { createDrivers } from './registry.ts';
import { ProbeScheduler } from './schedule.ts';
import type { ProbeStore } from './store.ts';

export interface ProbeServiceDeps {
  config: Config;
  store: ProbeStore;
  runtime: CheckRuntime;
  sink: MetricsSink;
  clock: Clock;
  logger: Logger;
  sandbox?: Sandbox;
}

export class ProbeService {
  readonly manager: ProbeManager;
  private readonly scheduler: ProbeScheduler;
  /** The probe config of every check that has one. */
  private readonly probeOf = new Map<string, NonNullable<CheckConfig['probe']>>();
  /** Failed probe-store calls: the manager reports them as probe errors; the router must see them too. */
  private storeFailures = 0;
  private lastStoreError = '';

  constructor(private readonly d: ProbeServiceDeps) {
    for (const c of d.config.checks) if (c.probe) this.probeOf.set(c.name, c.probe);
    const log = d.logger.child({ component: 'probes' });
    this.manager = new ProbeManager({
      store: this.watched(d.store),
      drivers: createDrivers(d.config.probes.drivers, { sandbox: d.sandbox, logger: log }),
      globalBudget: d.config.probes.budget,
      clock: d.clock,
      logger: log,
      checks: Object.fromEntries(this.probeOf),
      onResult: (probeId, report) => {
        if (!d.runtime.has(report.check)) return;
        if (report.result !== 'accepted') {
          d.sink.probe({ check: report.check, probeId, result: 'failed', costMinor: 0, currency: this.probeOf.get(report.check)?.currency ?? 'gbp', at: d.clock.now() });
        }
        d.runtime
          .input(report.check, { kind: 'probe-result', probeId, result: report.result, reference: report.reference, message: report.message ?? report.code })
          .catch((err) => log.error({ err, check: report.check, probe_id: probeId }, 'probe result could not be applied'));
      },
    });
    this.scheduler = new ProbeScheduler({
      logger: d.logger.child({ component: 'probe-schedule' }),
      onFire: (check) => {
        d.runtime.requestProbe(check, 'schedule').catch((err) => log.error({ err, check }, 'scheduled probe failed'));
      },
    });
  }

  // --- what the engine's probe effects mean ----------------------------------------------------

  readonly onFire: NamedHandler<'fire-probe'> = {
    name: 'probes',
    handle: async (e, { spec }) => {
      const options = this.probeOf.get(e.check);
      if (!options) return;
      const before = this.storeFailures;
      await this.manager.fire({ check: e.check, probeId: e.probeId, reason: e.reason, deadline: e.deadline, options, stream: spec.stream });
      // Nothing was charged and the engine was told (a probe error); the store failure is still a failure.
      if (this.storeFailures > before) throw new Error(`the probe store failed: ${this.lastStoreError}`);
    },
  };

  readonly onProven: NamedHandler<'probe-proven'> = {
    name: 'probes',
    handle: async (e) => {
      // Only the event that settles the probe in flight counts (latencyMs -1: a late or duplicate copy).
      if (e.latencyMs >= 0) this.record(e.check, e.probeId, 'proven', e.at, e.latencyMs);
      await this.manager.proven(e.probeId, e.at);
    },
  };

  /**
   * Settle the record whatever the reason (deadline, pause, restart): an accepted charge is
   * reversed, and a charge still being answered is reversed once the acquirer accepts it.
   */
  readonly onLost: NamedHandler<'probe-lost'> = {
    name: 'probes',
    handle: async (e) => {
      if (e.accepted && e.why === 'deadline') this.record(e.check, e.probeId, 'lost', e.at);
      await this.manager.lost(e.probeId, e.at);
    },
  };

  /** The store, with each failing call counted (sync throws and rejections alike). */
  private watched(store: ProbeStore): ProbeStore {
    const note = (err: unknown) => {
      this.storeFailures++;
      this.lastStoreError = err instanceof Error ? err.message : String(err);
    };
    return new Proxy(store, {
      get: (t, prop, recv) => {
        const v = Reflect.get(t, prop, recv);
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          try {
            const r = v.apply(t, args);
            return r instanceof Promise ? r.catch((err: unknown) => (note(err), Promise.reject(err))) : r;
          } catch (err) {
            note(err);
            throw err;
          }
        };
      },
    });
  }

  private record(check: string, probeId: string, result: 'proven' | 'lost', at: number, latencyMs?: number): void {
    const c = this.probeOf.get(check);
    this.d.sink.probe({ check, probeId, result, ...(latencyMs !== undefined ? { latencyMs } : {}), costMinor: c?.amount ?? 0, currency: c?.currency ?? 'gbp', at });
  }

  // --- lifecycle -------------------------------------------------------------------------------

  /**
   * Before the runtime starts: probes whose charge was never answered before a restart are finished
   * with the same probe id and idempotency key (the acquirer answers the first result, no second
   * charge), so a charge that went through is known and reversed. The engine no longer waits for
   * them: its restart rule settles each one (probe-lost, why: restart).
   */
  async recover(): Promise<void> {
    const log = this.d.logger.child({ component: 'probes' });
    for (const rec of await this.manager.recoverInterrupted()) {
      const options = this.probeOf.get(rec.check);
      if (!options) continue;
      this.manager
        .fire({ check: rec.check, probeId: rec.id, reason: rec.reason, deadline: rec.deadline, options, stream: this.d.runtime.spec(rec.check)?.stream })
        .catch((err) => log.error({ err, check: rec.check, probe_id: rec.id }, 'could not finish an interrupted probe'));
    }
  }

  startSchedules(): void {
    for (const [name, p] of this.probeOf) if (p.schedule) this.scheduler.add(name, p.schedule);
  }

  async stop(): Promise<void> {
    this.scheduler.stop();
    await this.manager.stop();
  }

  /** Extra fields of GET /v1/checks/{name}. */
  async details(name: string): Promise<Record<string, unknown>> {
    if (!this.probeOf.has(name)) return {};
    return { probes: await this.manager.list({ check: name, limit: 10 }), probeBudget: await this.manager.budgetStatus(name) };
  }

  // --- API -------------------------------------------------------------------------------------

  plugin(): ApiPlugin {
    const { runtime } = this.d;
    return {
      register: (app, { requireScope }) => {
        app.get<{ Querystring: { check?: string; limit?: string } }>('/v1/probes', { preHandler: requireScope('read') }, async (req, reply) => {
          const { check } = req.query;
          if (check !== undefined && typeof check !== 'string') return reply.code(400).send(errorBody('bad_request', 'check must be given once', { field: 'check' }));
          if (check !== undefined && !runtime.has(check)) return reply.code(400).send(errorBody('bad_request', `no check named ${JSON.stringify(check)}`, { field: 'check' }));
          const limit = Math.min(500, Math.max(1, Number(req.query.limit ?? 50) || 50));
          return { probes: await this.manager.list({ check, limit }), budget: await this.manager.budgetStatus(check) };
        });
        app.post<{ Params: { name: string } }>('/v1/checks/:name/probe', { preHandler: requireScope('admin') }, async (req, reply) => {
          const name = req.params.name;
          if (!runtime.has(name)) return reply.code(404).send(errorBody('not_found', `no check named ${JSON.stringify(name)}`, { field: 'name' }));
          if (!this.probeOf.has(name)) return reply.code(400).send(errorBody('bad_request', `check ${name} has no probe configured`, { field: 'probe' }));
          const before = runtime.state(name)?.probe?.id;
          if (before) return reply.code(409).send(errorBody('conflict', `a probe of ${name} is already in flight (${before}); never two at once`, { probe: before }));
          if (runtime.state(name)?.status === 'paused') return reply.code(409).send(errorBody('conflict', `check ${name} is paused`));
          const st = await runtime.requestProbe(name, 'manual');
          return reply.code(202).send({ probe: st.probe });
        });
      },
      openApiPaths: {
        '/v1/probes': {
          get: {
            summary: 'Stored probes, newest first, with budget use (read)',
            parameters: [
              { name: 'check', in: 'query', schema: { type: 'string' } },
              { name: 'limit', in: 'query', schema: { type: 'integer', default: 50 } },
            ],
            responses: { '200': { description: 'probes and budget' }, '400': { description: 'Unknown check' } },
          },
        },
        '/v1/checks/{name}/probe': {
          post: {
            summary: 'Fire one probe by hand (admin); 409 when one is in flight',
            parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
            responses: { '202': { description: 'Fired' }, '400': { description: 'No probe configured' }, '404': { description: 'No such check' }, '409': { description: 'A probe is in flight, or the check is paused' } },
          },
        },
      },
    };
  }
}
