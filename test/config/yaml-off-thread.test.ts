/**
 * Large YAML configs are parsed in a worker thread (the parser's garbage dies with the worker), with
 * the same result and the same errors as on the main thread.
 */
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { ConfigError, parseConfig } from '../../src/config/load.ts';
import { OFF_THREAD_BYTES, parseYamlOffThread } from '../../src/config/yaml-off-thread.ts';

function bigYaml(minBytes: number): string {
  const lines = ['server: { port: 8080 }', 'checks:'];
  for (let i = 0; lines.join('\n').length < minBytes; i++) {
    for (let k = 0; k < 500; k++, i++) lines.push(`  - { name: c${i}, stream: s${i}, quietAfter: 60s, pageAfter: 90s, labels: { scheme: visa, region: r${i % 5} } }`);
  }
  return lines.join('\n') + '\n';
}

describe('YAML parsed off the main thread', () => {
  it('a config above the threshold gives the same config as the main-thread parser', () => {
    const text = bigYaml(OFF_THREAD_BYTES + 1000);
    expect(text.length).toBeGreaterThan(OFF_THREAD_BYTES);
    const off = parseYamlOffThread(text);
    expect(off.errors).toBeUndefined();
    expect(off.value).toEqual(parseDocument(text).toJS());
    const cfg = parseConfig(text, 'big.yaml', {});
    expect(cfg.checks.length).toBe((off.value as { checks: unknown[] }).checks.length);
    expect(cfg.checks[7]!.name).toBe('c7');
  });

  it('invalid YAML in a large file is a ConfigError naming the problem and its line', () => {
    const text = bigYaml(OFF_THREAD_BYTES + 1000) + '  - { name: broken, stream: [unclosed\n';
    let err: unknown;
    try {
      parseConfig(text, 'big.yaml', {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]).toMatch(/^YAML: /);
    expect(problems[0]).toMatch(/at line \d+, column \d+/);
    // the same messages the main-thread parser gives
    const inThread = parseDocument(text, { prettyErrors: true }).errors.map((e) => `YAML: ${e.message.split('\n')[0]}`);
    expect(problems).toEqual(inThread);
  });
});
