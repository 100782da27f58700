/**
 * The ingest relay against a real PostgreSQL: a batch is one row, kept exactly as accepted (run
 * pings, addressed events, ids, nested attributes), drained oldest first up to `batch` events, put
 * back when applying fails, and the previous version's per-event table drained too (rolling upgrade).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventRelay } from '../../src/ha/relay.ts';
import type { IngestEvent } from '../../src/ingest/types.ts';
import { migrate } from '../../src/store/pg-migrate.ts';
import { PgPool } from '../../src/store/pg-pool.ts';
import { startPostgres, type PgCluster } from '../helpers/postgres.ts';

let cluster: PgCluster;
let db = 0;
const pools: PgPool[] = [];
beforeAll(async () => {
  cluster = await startPostgres();
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  cluster?.stop();
});

async function fresh(): Promise<{ pool: PgPool; relay: EventRelay; name: string }> {
  const name = `relay${++db}`;
  const pool = new PgPool({ url: cluster.createDatabase(name) });
  pools.push(pool);
  await migrate(pool);
  return { pool, relay: new EventRelay({ db: pool, replica: 'r1', batch: 5 }), name };
}

const ev = (i: number, over: Partial<IngestEvent> = {}): IngestEvent => ({ stream: 'payments', arrivedAt: 1_000 + i, time: 900 + i, id: `e${i}`, attributes: { scheme: 'visa' }, ...over });

describe('the ingest relay', () => {
  it('keeps every event as accepted, one row per batch, and applies them oldest first', async () => {
    const { relay, name } = await fresh();
    const odd: IngestEvent[] = [
      { stream: 'nightly', arrivedAt: 5, time: 5, attributes: {}, run: { state: 'fail', id: 'run-7', reason: 'disk full' } },
      { stream: 'influx', check: 'fed', arrivedAt: 6, time: 4, attributes: {} },
      { stream: 'payments', arrivedAt: 7, time: 7, id: 'ünï', attributes: { nested: { a: [1, 'x', null, true] }, amount: 12.5 } },
    ];
    await relay.append(odd);
    await relay.append([ev(1), ev(2)]);
    expect(Number(cluster.psql('SELECT count(*) FROM ingest_batches', name))).toBe(2);
    expect(await relay.backlog()).toBe(5);
    const applied: IngestEvent[][] = [];
    expect(await relay.drain(async (events) => void applied.push(events))).toBe(5);
    expect(applied).toEqual([[...odd, ev(1), ev(2)]]);
    expect(await relay.backlog()).toBe(0);
  });

  it('takes batches up to `batch` events (at least one batch, however large), and puts them back when applying fails', async () => {
    const { relay } = await fresh();
    await relay.append([ev(1), ev(2), ev(3)]);
    await relay.append([ev(4), ev(5), ev(6)]); // crosses 5: taken with the first
    await relay.append([ev(7)]);
    await relay.append(Array.from({ length: 12 }, (_, i) => ev(100 + i))); // larger than `batch` alone
    await expect(relay.drain(async () => Promise.reject(new Error('checks could not commit')))).rejects.toThrow(/could not commit/);
    expect(await relay.backlog()).toBe(19);
    const sizes: number[] = [];
    const ids: string[] = [];
    const apply = async (events: IngestEvent[]) => {
      sizes.push(events.length);
      ids.push(...events.map((e) => e.id!));
    };
    expect(await relay.drainBacklog(apply)).toBe(19);
    expect(sizes).toEqual([6, 13]); // 1 + 12: the events before the large batch (1) are under 5
    expect(ids).toEqual([...[1, 2, 3, 4, 5, 6, 7].map((i) => `e${i}`), ...Array.from({ length: 12 }, (_, i) => `e${100 + i}`)]);
    expect(relay.applied).toBe(19);
  });

  it("drains the previous version's per-event rows too (replicas not upgraded yet)", async () => {
    const { relay, name } = await fresh();
    cluster.psql(
      `INSERT INTO ingest_events (stream, check_name, arrived_at, time, event_id, attributes, replica) VALUES
       ('payments', NULL, 10, 9, 'old1', '{"scheme":"visa"}', 'v1'), ('influx', 'fed', 11, 11, NULL, '{}', 'v1')`,
      name,
    );
    await relay.append([ev(1)]);
    expect(await relay.backlog()).toBe(3);
    const got: IngestEvent[] = [];
    await relay.drainBacklog(async (events) => void got.push(...events));
    expect(got).toEqual([ev(1), { stream: 'payments', arrivedAt: 10, time: 9, id: 'old1', attributes: { scheme: 'visa' } }, { stream: 'influx', check: 'fed', arrivedAt: 11, time: 11, attributes: {} }]);
    expect(await relay.backlog()).toBe(0);
  });
});
