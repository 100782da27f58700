/**
 * The typed registry of probe drivers: one factory per kind. `driverFactories` must have an entry
 * for every ProbeDriverKind (and every config `type`), so adding a kind without wiring it here
 * fails to compile. Bad driver config fails at start-up, never at charge time.
 */
import { PermanentError } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import type { ProbeDriverConfig } from './config.ts';
import { HttpProbeDriver } from './http/driver.ts';
import { SandboxProbeDriver } from './sandbox/driver.ts';
import { StripeProbeDriver } from './stripe/driver.ts';
import type { ProbeDriver, ProbeDriverKind } from './types.ts';

export interface DriverDeps {
  logger?: Logger;
  /** Required when any driver is `type: sandbox`. */
  sandbox?: Sandbox;
}

type ConfigOf<K extends ProbeDriverKind> = Extract<ProbeDriverConfig, { type: K }>;
export type DriverFactory<K extends ProbeDriverKind> = (config: ConfigOf<K>, deps: DriverDeps, name: string) => ProbeDriver & { kind: K };
export type DriverFactories = { readonly [K in ProbeDriverKind]: DriverFactory<K> };

export const driverFactories: DriverFactories = {
  http: (config) => new HttpProbeDriver(config),
  stripe: (config) => new StripeProbeDriver(config),
  sandbox: (config, deps, name) => {
    if (!deps.sandbox) throw new PermanentError('PROBE_DRIVER_CONFIG', `probes.drivers.${name}: type sandbox needs the sandbox to be enabled`);
    return new SandboxProbeDriver(config, deps.sandbox);
  },
};

export function createDriver(name: string, config: ProbeDriverConfig, deps: DriverDeps = {}): ProbeDriver {
  const factory = driverFactories[config.type] as DriverFactory<typeof config.type>;
  return factory(config as never, deps, name);
}

/** Build every configured driver; throws (at start-up) on the first that cannot be built. */
export function createDrivers(configs: Record<string, ProbeDriverConfig>, deps: DriverDeps = {}): Map<string, ProbeDriver> {
  const out = new Map<string, ProbeDriver>();
  for (const [name, cfg] of Object.entries(configs)) out.set(name, createDriver(name, cfg, deps));
  return out;
}
