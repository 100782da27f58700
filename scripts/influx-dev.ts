/**
 * A throwaway local InfluxDB for trying the metrics and dashboards by hand: Debian's influxd on
 * loopback (installed when missing), database `quietwatch`, and the v2-write gateway in front of it.
 *
 *   npx tsx scripts/influx-dev.ts        # prints the URLs and a config snippet; Ctrl-C stops and cleans up
 */
import { startGateway, startInfluxd } from '../test/influx/server.ts';

const influx = await startInfluxd();
await influx.createDatabase('quietwatch');
const gw = await startGateway(influx.url);
console.log(`influxd (v1 API, for Grafana and InfluxDB-fed checks): ${influx.url}
v2 write gateway (for metrics.influxdb.url):               ${gw.url}
data dir (removed on exit):                                ${influx.dir}

metrics:
  influxdb: { url: ${gw.url}, bucket: quietwatch, flushInterval: 5s }

Grafana: QUIETWATCH_INFLUX_URL=${influx.url} QUIETWATCH_INFLUX_DB=quietwatch QUIETWATCH_INFLUX_TOKEN=unused`);
const stop = async () => {
  await gw.close();
  await influx.stop();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
