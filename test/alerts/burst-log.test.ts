import { describe, expect, it } from 'vitest';
import { AlertEffects } from '../../src/alerts/effects.ts';
import type { AlertManager } from '../../src/alerts/manager.ts';
import type { CheckSpec, Effect } from '../../src/checks/types.ts';
import { systemClock } from '../../src/lib/clock.ts';
import { BURST_LOG_LIMIT, BurstLog } from '../../src/lib/logger.ts';
import { captureJsonLines } from '../helpers/logs.ts';

type Line = { level: number; msg: string; check?: string; burst?: string; count?: number; total?: number; checks?: string[]; first?: Record<string, unknown> };

const capture = (level = 'info') => captureJsonLines<Line>(level);
const turn = () => new Promise<void>((r) => setImmediate(r));

describe('BurstLog', () => {
  it('logs the first lines of a kind as they are, then one summary per turn naming the rest', async () => {
    const { logger, lines } = capture();
    const b = new BurstLog(logger, { limit: 3 });
    for (let i = 0; i < 10; i++) b.line('warn', 'PAGE', `c${i}`, { n: i }, `PAGE c${i}`);
    b.line('info', 'warning', 'w0', {}, 'warning');
    await turn();
    expect(lines.map((l) => l.msg)).toEqual(['PAGE c0', 'PAGE c1', 'PAGE c2', 'warning', 'PAGE 7 more checks (storm: one line for the rest of this batch; each at debug)']);
    expect(lines[0]).toMatchObject({ level: 40, check: 'c0', n: 0 });
    expect(lines[4]).toMatchObject({ level: 40, burst: 'PAGE', count: 7, total: 10, first: { n: 3 }, checks: ['c3', 'c4', 'c5', 'c6', 'c7', 'c8', 'c9'] });
    // A new turn starts counting again.
    lines.length = 0;
    b.line('warn', 'PAGE', 'c10', {}, 'PAGE c10');
    await turn();
    expect(lines.map((l) => l.msg)).toEqual(['PAGE c10']);
  });

  it('builds lazy fields and messages only for the lines it writes (and the summary\'s first)', async () => {
    const { logger, lines } = capture();
    const b = new BurstLog(logger, { limit: 2 });
    const built: string[] = [];
    for (let i = 0; i < 50; i++) {
      b.line('error', 'PAGE', `c${i}`, () => (built.push(`f${i}`), { n: i }), () => (built.push(`m${i}`), `PAGE c${i}`));
    }
    await turn();
    expect(built).toEqual(['f0', 'm0', 'f1', 'm1', 'f2']);
    expect(lines.map((l) => l.msg)).toEqual(['PAGE c0', 'PAGE c1', 'PAGE 48 more checks (storm: one line for the rest of this batch; each at debug)']);
    expect(lines[0]).toMatchObject({ check: 'c0', n: 0 });
    expect(lines[2]).toMatchObject({ count: 48, first: { n: 2 } });
  });

  it('a summary names at most listMax checks and counts the rest (100,000 names were a 0.9 MB line)', async () => {
    const { logger, lines } = capture();
    const b = new BurstLog(logger, { limit: 1, listMax: 5 });
    for (let i = 0; i < 12; i++) b.line('warn', 'unrouted', `c${i}`, {}, `unrouted c${i}`);
    await turn();
    expect(lines.at(-1)).toMatchObject({ burst: 'unrouted', count: 11, total: 12, checks: ['c1', 'c2', 'c3', 'c4', 'c5'], checksNotListed: 6 });
    lines.length = 0;
    for (let i = 0; i < 6; i++) b.line('warn', 'unrouted', `d${i}`, {}, `unrouted d${i}`);
    await turn();
    expect(lines.at(-1)!.checks).toEqual(['d1', 'd2', 'd3', 'd4', 'd5']);
    expect(lines.at(-1)).not.toHaveProperty('checksNotListed');
  });

  it('keeps every line at debug level', async () => {
    const { logger, lines } = capture('debug');
    const b = new BurstLog(logger, { limit: 1 });
    for (let i = 0; i < 4; i++) b.line('error', 'PAGE', `c${i}`, {}, `PAGE c${i}`);
    await turn();
    expect(lines.filter((l) => l.msg.startsWith('PAGE c')).map((l) => [l.level, l.check])).toEqual([[50, 'c0'], [20, 'c1'], [20, 'c2'], [20, 'c3']]);
    expect(lines.at(-1)).toMatchObject({ level: 50, count: 3 });
  });
});

describe('AlertEffects logs', () => {
  it('a storm of pages: the first ones named one by one, the rest in one line; every check still reaches the alert manager', async () => {
    const { logger, lines } = capture();
    const downs: string[] = [];
    const alerts = { checkDown: async (i: { check: string }) => void downs.push(i.check) } as unknown as AlertManager;
    const n = 200;
    const effects = new AlertEffects({ alerts, checks: [], clock: systemClock, logger });
    const spec = (i: number) => ({ name: `c${i}`, stream: `s${i}`, match: {}, quietAfterMs: 1, pageAfterMs: 2, labels: {} }) as CheckSpec;
    const runs = [];
    for (let i = 0; i < n; i++) {
      const e: Effect & { type: 'alert' } = { type: 'alert', kind: 'down', check: `c${i}`, at: 1, reason: 'no events for 90s', details: {} } as never;
      runs.push(effects.onAlert.handle(e, { spec: spec(i), state: {} as never }));
    }
    await Promise.all(runs);
    await turn();
    expect(downs).toHaveLength(n);
    const pages = lines.filter((l) => l.msg.startsWith('PAGE '));
    expect(pages).toHaveLength(BURST_LOG_LIMIT + 1);
    expect(pages[0]).toMatchObject({ level: 50, check: 'c0', msg: 'PAGE c0: no events for 90s' });
    expect(pages.at(-1)).toMatchObject({ level: 50, burst: 'PAGE', count: n - BURST_LOG_LIMIT, checks: Array.from({ length: n - BURST_LOG_LIMIT }, (_, i) => `c${i + BURST_LOG_LIMIT}`) });
  });
});
