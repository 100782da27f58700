/** Every write precision round-trips through the v2 write gateway to the exact millisecond. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { InfluxSink } from '../../src/metrics/influx.ts';
import { startGateway, startInfluxd, type Gateway, type InfluxServer } from './server.ts';

let influx: InfluxServer;
let gw: Gateway;
beforeAll(async () => {
  influx = await startInfluxd();
  gw = await startGateway(influx.url);
});
afterAll(async () => {
  await gw?.close();
  await influx?.stop();
});

for (const precision of ['s', 'ms', 'us', 'ns'] as const) {
  it(`writes with precision ${precision} and the point keeps its time`, async () => {
    const db = `p_${precision}`;
    await influx.createDatabase(db);
    const sink = new InfluxSink({ url: gw.url, bucket: db, precision });
    const at = Date.now() - 1234;
    sink.incidents(1, at);
    await sink.flush();
    expect(sink.status()).toEqual({ ok: true, buffered: 0, dropped: 0 });
    const res = await influx.query('SELECT "open" FROM "qw_incidents"', db);
    expect(res.results[0]!.series![0]!.values[0]![0]).toBe(precision === 's' ? Math.floor(at / 1000) * 1000 : at);
    expect(gw.writes.at(-1)).toEqual({ db, precision, status: 204 });
    await sink.close();
  });
}
