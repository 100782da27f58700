/**
 * An InfluxDB-fed check through the real engine: points arrive -> ok; points stop -> quiet, then down
 * at the deadlines; points resume -> ok again. The source talks to a real influxd; the engine runs in
 * virtual time at the points' times.
 */
import { Point } from '@influxdata/influxdb-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { initialState, nextDeadline, step } from '../../src/checks/engine.ts';
import type { CheckSpec, CheckState, Flip } from '../../src/checks/types.ts';

import { InfluxSource, influxSourceSchema } from '../../src/sources/influx.ts';
import { startInfluxd, type InfluxServer } from './server.ts';

let influx: InfluxServer;
beforeAll(async () => {
  influx = await startInfluxd();
  await influx.createDatabase('pipeline');
});
afterAll(async () => {
  await influx?.stop();
});

async function write(t: number): Promise<void> {
  const line = new Point('settlement').tag('acquirer', 'acme').floatField('amount', 12.5).toLineProtocol({ convertTime: () => String(t) } as never);
  const res = await fetch(`${influx.url}/write?db=pipeline&precision=ms`, { method: 'POST', body: line });
  expect(res.status).toBe(204);
}

it('goes quiet and down when points stop, and ok when they resume', async () => {
  const spec: CheckSpec = { name: 'settlement', stream: 'settlement', match: {}, quietAfterMs: 2_000, pageAfterMs: 4_000, labels: {} };
  const t1 = Date.now() - 60_000;
  let state: CheckState = initialState(t1 - 1_000);
  const flips: Flip[] = [];
  const apply = (input: Parameters<typeof step>[2], now: number) => {
    const r = step(spec, state, input, { now, newProbeId: () => 'p' });
    state = r.state;
    for (const e of r.effects) if (e.type === 'flip') flips.push(e);
  };
  const src = new InfluxSource(
    [{ name: 'settlement', source: influxSourceSchema.parse({ type: 'influxdb', url: influx.url, database: 'pipeline', measurement: 'settlement', field: 'amount', where: { acquirer: 'acme' } }) }],
    (_check, time) => apply({ kind: 'event', at: time, time }, time),
  );

  await write(t1);
  await src.poll('settlement');
  expect(state.status).toBe('ok');

  // no new points: polls report nothing, the engine's deadlines pass
  for (let i = 0; i < 2; i++) {
    await src.poll('settlement');
    const due = nextDeadline(spec, state)!;
    apply({ kind: 'tick' }, due);
  }
  expect(state.status).toBe('down');
  expect(flips.map((f) => `${f.from}->${f.to}@${f.at - t1}`)).toEqual(['unknown->ok@0', 'ok->quiet@2000', 'quiet->down@4000']);

  // points resume
  const t2 = t1 + 30_000;
  await write(t2);
  await src.poll('settlement');
  expect(state.status).toBe('ok');
  expect(flips.at(-1)).toMatchObject({ from: 'down', to: 'ok', at: t2 });
});
