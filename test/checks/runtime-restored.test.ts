import { describe, expect, it } from 'vitest';
import { boardPlugin } from '../../src/board/index.ts';
import { CheckRuntime } from '../../src/checks/runtime.ts';
import type { CheckSpec } from '../../src/checks/types.ts';
import { systemClock } from '../../src/lib/clock.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';

const spec = (name: string): CheckSpec => ({ name, stream: name, match: {}, quietAfterMs: 60_000, pageAfterMs: 120_000, labels: {} });
const runtime = (store: SqliteStore, names: string[]) => new CheckRuntime({ checks: names.map((n) => ({ spec: spec(n) })), store, clock: systemClock, logger: silentLogger(), onEffect: () => {} });
const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

describe('which check states came from the store', () => {
  it("knows them once started ('ready'), and the board reads stored flips only for those, after start-up", async () => {
    const store = new SqliteStore(':memory:');
    const first = runtime(store, ['old']);
    await first.start();
    await first.ingest([{ stream: 'old', arrivedAt: Date.now(), time: Date.now(), attributes: {} }]);
    first.stop();

    const rt = runtime(store, ['old', 'new']);
    const read: string[] = [];
    boardPlugin({ runtime: rt, clock: systemClock, incidents: async () => [], flips: async (check: string) => (read.push(check), store.listFlips(check, 500)) } as never);
    let ready = 0;
    rt.on('ready', () => ready++);
    expect(rt.ready).toBe(false);
    await turns(3);
    expect(read).toEqual([]); // not before the runtime knows
    await rt.start();
    expect([rt.ready, ready, rt.restored('old'), rt.restored('new')]).toEqual([true, 1, true, false]);
    await turns(3);
    expect(read).toEqual(['old']);
    rt.stop();
  });

  it('a follower knows them from the states it adopts', () => {
    const rt = runtime(new SqliteStore(':memory:'), ['a', 'b']);
    let ready = 0;
    rt.on('ready', () => ready++);
    rt.adopt(new Map([['a', { ...rt.state('a')!, status: 'ok' }]]));
    expect([rt.ready, ready, rt.restored('a'), rt.restored('b')]).toEqual([true, 1, true, false]);
  });
});
