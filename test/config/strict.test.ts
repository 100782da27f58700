import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.ts';

const problemsOf = (yaml: string): string[] => {
  try {
    parseConfig(yaml, '<test>', {});
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('config: unknown keys at any depth, missing keys say required', () => {
  it('rejects a misspelt top-level key with a suggestion', () => {
    expect(problemsOf('servr: {port: 8080}\n')).toEqual(['servr is not a known key: did you mean "server"?']);
  });

  it('rejects misspelt check keys (a misspelt probe must never silently remove the probe)', () => {
    const p = problemsOf(`
probes: {drivers: {acq: {type: sandbox}}}
checks:
  - name: a
    quietAfter: 30s
    pageAfter: 60s
    runbok: https://runbooks.example/a
    prob: {driver: acq, amount: 100, currency: gbp}
`);
    expect(p).toEqual(['checks[0].runbok is not a known key: did you mean "runbook"?', 'checks[0].prob is not a known key: did you mean "probe"?']);
  });

  it('looks inside nested objects, records and discriminated unions', () => {
    const p = problemsOf(`
probes:
  drivers:
    acq: {type: sandbox, delayy: 1s}
alerts:
  notifiers:
    pd: {type: pagerduty, routingKey: "0123456789abcdef0123456789abcdef", timout: 5s}
checks:
  - name: a
    quietAfter: auto
    pageAfter: auto
    learn: {min: 10s, max: 10m, bukcet: 1h, rateDrop: {windw: 5m}}
`);
    expect(p).toContain('checks[0].learn.bukcet is not a known key: did you mean "bucket"?');
    expect(p).toContain('checks[0].learn.rateDrop.windw is not a known key: did you mean "window"?');
    expect(p.some((m) => m.startsWith('probes.drivers.acq.delayy is not a known key'))).toBe(true);
    expect(p.some((m) => m.startsWith('alerts.notifiers.pd.timout is not a known key'))).toBe(true);
  });

  it('looks inside a `true | {…}` union: the literal branch does not swallow a misspelt key of the object', () => {
    const p = problemsOf(`
probes: {drivers: {acq: {type: sandbox}}}
checks:
  - name: a
    quietAfter: 30s
    pageAfter: 60s
    probe: {driver: acq, learnTimeout: {factr: 3}}
`);
    expect(p).toEqual(['checks[0].probe.learnTimeout.factr is not a known key: did you mean "factor"?']);
    expect(problemsOf(`
probes: {drivers: {acq: {type: sandbox}}}
checks:
  - {name: a, quietAfter: 30s, pageAfter: 60s, probe: {driver: acq, learnTimeout: true}}
`)).toEqual([]);
  });

  it('gives no suggestion when nothing is close', () => {
    expect(problemsOf('zzzzzz: 1\n')).toEqual(['zzzzzz is not a known key']);
  });

  it('says "required" for a missing required key, with its path', () => {
    expect(problemsOf('alerts: {notifiers: {pd: {type: pagerduty}}}\n')).toContain('alerts.notifiers.pd.routingKey is required (string)');
    const p = problemsOf(`
checks:
  - name: a
    quietAftr: 30s
    pageAfter: 60s
`);
    expect(p).toEqual(['checks[0].quietAftr is not a known key: did you mean "quietAfter"?', 'checks[0].quietAfter is required (or give a schedule)']);
  });

  it('accepts free-form maps (labels, match) and the shipped configs', () => {
    expect(problemsOf(`
checks:
  - name: a
    quietAfter: 30s
    pageAfter: 60s
    labels: {anything: goes, team: cards}
    match: {scheme: visa, region: [eu, uk]}
`)).toEqual([]);
  });

  it('reads JSON too (a generated config skips the YAML parser), with the same checks', () => {
    const cfg = parseConfig(JSON.stringify({ checks: [{ name: 'a', quietAfter: '30s', pageAfter: '1m' }] }), '<json>', {});
    expect(cfg.checks[0]).toMatchObject({ name: 'a', quietAfter: 30_000, pageAfter: 60_000 });
    expect(problemsOf(JSON.stringify({ checks: [{ name: 'a', quietAfter: '30s', pageAfter: '1m', prob: {} }] }))).toEqual(['checks[0].prob is not a known key: did you mean "probe"?']);
    // Not JSON after all (a YAML flow mapping): read as YAML.
    expect(parseConfig('{checks: [{name: a, quietAfter: 30s, pageAfter: 1m}]}', '<flow>', {}).checks).toHaveLength(1);
  });
});
