/**
 * Issue 16 item 2: memory per stream name. 100,000 events, each with a new stream name, must not
 * grow the service (Prometheus labels, the InfluxDB sink's counters) without bound, and a /metrics
 * scrape afterwards stays small and fast.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MB, startChild, type Child } from './child.ts';

let c: Child;
beforeAll(async () => {
  c = await startChild(`
checks:
  - { name: pay, stream: payments, quietAfter: 30s, pageAfter: 2m }
metrics:
  stateInterval: 200ms
  # unreachable on purpose: the InfluxDB sink buffers, drops and counts, and keeps its counters bounded
  influxdb: { url: "http://127.0.0.1:9", bucket: qw, flushInterval: 1s }
`);
}, 60_000);
afterAll(() => c?.stop());

const post = (events: unknown[]) =>
  fetch(`${c.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });

async function scrape() {
  const t0 = performance.now();
  const res = await fetch(`${c.url}/metrics`);
  const body = await res.text();
  return { status: res.status, body, ms: performance.now() - t0 };
}

describe('100,000 distinct stream names', () => {
  it('keep RSS under +100 MB and /metrics under 1 s, counted under stream="_other"', async () => {
    // Warm up: the known stream, a scrape, and one batch of unknown names (JIT, buffers, label slots).
    for (let i = 0; i < 5; i++) expect((await post(Array.from({ length: 1000 }, () => ({ stream: 'payments' })))).status).toBe(202);
    await scrape();
    global.gc?.();
    const before = c.rss();
    let n = 0;
    const worstHealthz: number[] = [];
    for (let b = 0; b < 20; b++) {
      const batch = Array.from({ length: 5000 }, () => ({ stream: `tenant-${(n++).toString(36)}-${'q'.repeat(40)}`, attributes: { n } }));
      expect((await post(batch)).status).toBe(202);
      const t0 = performance.now();
      expect((await fetch(`${c.url}/healthz`)).status).toBe(200);
      worstHealthz.push(performance.now() - t0);
    }
    expect(n).toBe(100_000);
    // The known stream keeps its own label after the flood.
    expect((await post([{ stream: 'payments' }])).status).toBe(202);
    await new Promise((r) => setTimeout(r, 1_500)); // an InfluxDB flush interval: counters aggregated
    const after = c.rss();
    // /metrics never blocks the loop: /healthz answers while a scrape is being served (before: one
    // scrape took 74 s and /healthz timed out meanwhile). Bounds generous for a loaded 2-core machine.
    const scraping = scrape();
    const h0 = performance.now();
    expect((await fetch(`${c.url}/healthz`)).status).toBe(200);
    const healthzDuringScrape = performance.now() - h0;
    const m = await scraping;
    expect(m.status).toBe(200);
    expect(healthzDuringScrape).toBeLessThan(2_000);
    expect(Math.max(...worstHealthz)).toBeLessThan(2_000);
    const grew = (after - before) / MB;
    console.log(
      `stream names: RSS ${(before / MB).toFixed(0)} MB -> ${(after / MB).toFixed(0)} MB (+${grew.toFixed(1)} MB); /metrics ${m.ms.toFixed(0)} ms, ${(m.body.length / 1024).toFixed(0)} KiB; worst /healthz ${Math.max(...worstHealthz).toFixed(0)} ms, during a scrape ${healthzDuringScrape.toFixed(0)} ms`,
    );
    expect(grew).toBeLessThan(100);
    expect(m.ms).toBeLessThan(1_000);
    expect(m.body).toMatch(/quietwatch_events_total\{stream="_other",synthetic="false"\} \d+/);
    expect(m.body).toMatch(/quietwatch_events_total\{stream="payments",synthetic="false"\} 5001/);
    const other = Number(/quietwatch_events_total\{stream="_other",synthetic="false"\} (\d+)/.exec(m.body)![1]);
    const labelled = [...m.body.matchAll(/quietwatch_events_total\{stream="tenant-[^"]+",synthetic="false"\} (\d+)/g)];
    expect(labelled.length).toBe(200);
    expect(other + labelled.length).toBe(100_000);
    expect(m.body.length).toBeLessThan(512 * 1024);
  }, 120_000);
});
