import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, configJsonSchema, loadConfig, parseConfig } from '../../src/config/load.ts';

const problems = (yaml: string, env: NodeJS.ProcessEnv = {}): string[] => {
  try {
    parseConfig(yaml, '<t>', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('config', () => {
  it('the embedded default config is valid', () => {
    const c = loadConfig();
    expect(c.checks.length).toBeGreaterThan(0);
    expect(c.server.host).toBe('127.0.0.1');
  });

  it('a one-check config is a few lines long', () => {
    const c = parseConfig('checks:\n  - { name: payments, quietAfter: 90s, pageAfter: 5m }\n', '<t>', {});
    expect(c.checks[0]).toMatchObject({ name: 'payments', quietAfter: 90_000, pageAfter: 300_000 });
    expect(c.store.path).toBe('data/quietwatch.sqlite');
  });

  it('reports every problem at once, each with its path', () => {
    const p = problems(`
server: { port: 99999 }
checks:
  - { name: a, quietAfter: 30s, pageAfter: 10s }
  - { name: b, quietAfter: soon, pageAfter: 2m }
  - { name: c, quietAfter: 1m }
  - { name: d, quietAfter: auto, pageAfter: auto }
auth: { tokens: [{ name: x, token: short, scopes: [root] }] }
`);
    expect(p).toEqual(
      expect.arrayContaining([
        'checks[0].pageAfter must be longer than quietAfter',
        expect.stringMatching(/^checks\[1\]\.quietAfter must be "auto" or a duration like "90s"/),
        expect.stringMatching(/^checks\[2\]\.pageAfter /),
        expect.stringMatching(/^checks\[3\]\.learn is required/),
        expect.stringMatching(/^server\.port /),
        expect.stringMatching(/^auth\.tokens\[0\]\.token must be at least 16/),
        expect.stringMatching(/^auth\.tokens\[0\]\.scopes\[0\] /),
      ]),
    );
  });

  it('substitutes ${ENV} in values and names a missing variable', () => {
    const c = parseConfig('checks:\n  - { name: a, quietAfter: 1m, pageAfter: 2m, labels: { team: "${TEAM}", env: "${ENVN:-prod}" } }', '<t>', { TEAM: 'payments' });
    expect(c.checks[0]!.labels).toEqual({ team: 'payments', env: 'prod' });
    expect(problems('auth: { tokens: [{ name: x, token: "${QW_TOKEN}", scopes: [admin] }] }')).toEqual([
      'auth.tokens[0].token refers to environment variable QW_TOKEN, which is not set',
      'auth.tokens[0].token must be at least 16 characters',
    ]);
  });

  it('rejects duplicate check names and unknown probe drivers', () => {
    expect(problems('checks:\n  - { name: a, quietAfter: 1m, pageAfter: 2m }\n  - { name: a, quietAfter: 1m, pageAfter: 2m }')).toEqual([
      'checks[1].name duplicates checks[0].name "a"',
    ]);
  });

  it('refuses settings that would charge uselessly, flap or spin', () => {
    expect(
      problems(`
probes: { drivers: { acq: { type: http, url: "https://acq.example/charges", timeout: 30s } } }
metrics: { stateInterval: 0 }
checks:
  - { name: a, quietAfter: 1m, pageAfter: 2m, probe: { driver: acq, timeout: 20s } }
  - name: b
    quietAfter: auto
    pageAfter: auto
    learn: { min: 5s, max: 1h, rateDrop: { window: 5m } }
    source: { type: influxdb, url: "http://127.0.0.1:8086", database: db, measurement: m, field: v, pollInterval: 10s }
`),
    ).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^checks\[0\]\.probe\.timeout must be longer than the timeout of driver acq/),
        'metrics.stateInterval must be at least 100ms',
      ]),
    );
  });

  it('accepts rate-drop on an InfluxDB-fed check (points are counted per poll)', () => {
    expect(
      problems(`
checks:
  - name: b
    quietAfter: auto
    pageAfter: auto
    learn: { min: 5s, max: 1h, rateDrop: { window: 5m } }
    source: { type: influxdb, url: "http://127.0.0.1:8086", database: db, measurement: m, field: v, pollInterval: 10s, countDelay: 15s }
`),
    ).toEqual([]);
  });

  it('reports YAML syntax errors', () => {
    expect(problems('checks: [\n')[0]).toMatch(/^YAML:/);
  });

  it('publishes a JSON Schema that matches the committed file', () => {
    const committed = JSON.parse(readFileSync(new URL('../../config/quietwatch.schema.json', import.meta.url), 'utf8'));
    expect(committed).toEqual(JSON.parse(JSON.stringify(configJsonSchema())));
    expect(committed.properties.checks.items.properties).toHaveProperty('quietAfter');
  });
});
