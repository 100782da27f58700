/**
 * One contract for both backends: the same assertions against the SQLite stores and the PostgreSQL
 * stores (a real throwaway cluster), built by the same factory the service uses (createStores).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Incident, Notification } from '../../src/alerts/types.ts';
import type { Flip, CheckState } from '../../src/checks/types.ts';
import { parseLearnConfig } from '../../src/learn/config.ts';
import { LearnedLimits } from '../../src/learn/model.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { checkProbeSchema } from '../../src/probes/config.ts';
import { ProbeManager, type ProbeReport } from '../../src/probes/manager.ts';
import type { ProbeRecord } from '../../src/probes/store.ts';
import type { ChargeRequest, ChargeResult, ProbeDriver } from '../../src/probes/types.ts';
import { createStores, type Stores } from '../../src/store/index.ts';
import { startPostgres, type PgCluster } from '../helpers/postgres.ts';

let cluster: PgCluster;
let tmp: string;
let n = 0;
beforeAll(async () => {
  cluster = await startPostgres();
  tmp = mkdtempSync(join(tmpdir(), 'qw-contract-'));
});
afterAll(() => {
  cluster?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const backends: Array<[string, () => Promise<Stores>]> = [
  ['sqlite', () => createStores({ path: join(tmp, `s${++n}.sqlite`) })],
  // a replica's stores write only while it leads: take the lease first (one contender, it wins)
  ['postgres', () => createStores({ path: 'unused', url: cluster.createDatabase(`c${++n}`) }).then(async (s) => (await s.lease!.tick(), s))],
];

const state = (status: CheckState['status'], since: number, lastEventAt: number | null): CheckState =>
  ({ status, since, lastEventAt, lastEventTime: lastEventAt, watchFrom: since, probe: null, backoff: 0, flipTimes: [] }) as unknown as CheckState;

const inc: Incident = {
  id: 'i1',
  check: 'card-auth',
  labels: { team: 'payments' },
  dedupKey: 'quietwatch/i1/card-auth',
  status: 'open',
  severity: 'critical',
  summary: 's',
  reason: 'r',
  details: { reason: 'r', state: 'down', silenceMs: 120_000 },
  openedAt: 1000,
  releasedAt: 1000,
  notifiers: ['pd', 'slack'],
};
const note = (id: string, action: Notification['action']): Notification => ({
  id,
  incidentId: 'i1',
  dedupKey: inc.dedupKey,
  action,
  severity: 'critical',
  check: 'card-auth',
  labels: {},
  summary: 's',
  createdAt: 1000,
  details: { reason: 'r', state: 'down' },
});

const T0 = Date.UTC(2026, 10, 29, 12, 0, 0);
const probe = (id: string, over: Partial<ProbeRecord> = {}): ProbeRecord => ({
  id,
  check: 'card-auth',
  reason: 'quiet',
  driver: 'd',
  idempotencyKey: `key-${id}`,
  firedAt: T0,
  deadline: T0 + 120_000,
  result: 'pending',
  costMinor: 100,
  currency: 'eur',
  attempts: 0,
  ...over,
});

describe.each(backends)('store contract: %s', (_name, make) => {
  it('saves check states and flips in one commit, lists flips newest first, prunes old ones', async () => {
    const s = await make();
    try {
      await s.store.ping();
      expect(await s.store.loadCheckStates()).toEqual(new Map());
      const flips: Flip[] = [
        { check: 'a', from: 'unknown', to: 'ok', at: 1000, reason: 'first event' },
        { check: 'a', from: 'ok', to: 'quiet', at: 5000, reason: 'silent 4s' },
        { check: 'b', from: 'unknown', to: 'ok', at: 2000, reason: 'first event' },
      ];
      await s.store.commit(
        [
          ['a', state('quiet', 5000, 1000)],
          ['b', state('ok', 2000, 2000)],
        ],
        flips,
      );
      await s.store.commit([['a', state('down', 9000, 1000)]], [{ check: 'a', from: 'quiet', to: 'down', at: 9000, reason: 'silent 8s' }]);
      const states = await s.store.loadCheckStates();
      expect(states.get('a')).toEqual(state('down', 9000, 1000));
      expect(states.get('b')).toEqual(state('ok', 2000, 2000));
      const listed = await s.store.listFlips('a', 2);
      expect(listed.map((f) => [f.from, f.to, f.at, f.reason])).toEqual([
        ['quiet', 'down', 9000, 'silent 8s'],
        ['ok', 'quiet', 5000, 'silent 4s'],
      ]);
      expect(listed[0]!.id).toBeGreaterThan(listed[1]!.id);
      expect(await s.store.pruneFlips(2500)).toBe(2); // a@1000, b@2000
      expect((await s.store.listFlips('a', 10)).length).toBe(2);
      expect(await s.store.listFlips('b', 10)).toEqual([]);
    } finally {
      await s.close();
    }
  });

  it('commits states and flips atomically: a bad flip keeps the old state', async () => {
    const s = await make();
    try {
      await s.store.commit([['a', state('ok', 1, 1)]], []);
      const bad = { check: 'a', from: 'ok', to: 'quiet', at: 2, reason: null } as unknown as Flip;
      await expect(s.store.commit([['a', state('quiet', 2, 1)]], [bad])).rejects.toThrow();
      expect((await s.store.loadCheckStates()).get('a')?.status).toBe('ok');
      expect(await s.store.listFlips('a', 10)).toEqual([]);
    } finally {
      await s.close();
    }
  });

  it('round-trips incidents, outbox rows, receipts and silences', async () => {
    const s = await make();
    const a = s.alertStore;
    try {
      await a.init();
      await a.init();
      const rows = ['pd', 'slack'].map((notifier) => ({
        id: `n1/${notifier}`,
        notifier,
        incidentId: 'i1',
        notification: note('n1', 'trigger'),
        status: 'pending' as const,
        nextAttemptAt: 1000,
        createdAt: 1000,
      }));
      await a.commit({ incident: inc, insert: rows });
      expect(await a.getIncident('i1')).toEqual(inc);
      expect(await a.findOpenIncident('card-auth')).toEqual(inc);
      expect((await a.listOutbox({ status: ['pending'] })).map((r) => [r.seq, r.notifier])).toEqual([
        [1, 'pd'],
        [2, 'slack'],
      ]);
      expect((await a.listOutbox({ status: ['pending'] }))[0]!.notification).toEqual(note('n1', 'trigger'));
      await a.updateOutbox('n1/pd', { status: 'failed', attempts: 1, lastErrorCode: 'X', lastError: 'boom', permanent: true });
      expect((await a.listOutbox({ notifier: 'pd' }))[0]).toMatchObject({ status: 'failed', attempts: 1, lastErrorCode: 'X', permanent: true });
      await a.updateOutbox('n1/pd', { status: 'delivered', lastErrorCode: null, lastError: null, deliveredAt: 2000 });
      const pdRow = (await a.listOutbox({ notifier: 'pd' }))[0]!;
      expect(pdRow.lastErrorCode).toBeUndefined();
      expect(pdRow.deliveredAt).toBe(2000);
      expect(await a.listOutbox({ status: ['delivered', 'failed'], incidentId: 'i1' })).toHaveLength(1);

      await a.putReceipt('slack', 'i1', { channel: 'C1', ts: '1.1' });
      await a.putReceipt('slack', 'i1', { channel: 'C1', ts: '1.2' });
      expect(await a.getReceipt('slack', 'i1')).toEqual({ channel: 'C1', ts: '1.2' });
      expect(await a.getReceipt('pd', 'i1')).toBeUndefined();

      await a.commit({ incident: { ...inc, status: 'resolved', resolvedAt: 3000 } });
      expect(await a.findOpenIncident('card-auth')).toBeUndefined();
      expect(await a.listIncidents({ open: false })).toHaveLength(1);
      expect(await a.listIncidents({ open: true })).toHaveLength(0);
      expect(await a.listIncidents({ check: 'card-auth', limit: 1 })).toHaveLength(1);

      const sil = { id: 's1', matchers: { check: 'c' }, startsAt: 1, endsAt: 2, reason: 'r', createdBy: 'a', createdAt: 0 };
      await a.insertSilence(sil);
      expect(await a.listSilences()).toEqual([sil]);
      expect(await a.deleteSilence('s1')).toBe(true);
      expect(await a.deleteSilence('s1')).toBe(false);
    } finally {
      await s.close();
    }
  });

  it('commits alerts atomically: a failing row rolls back the incident too', async () => {
    const s = await make();
    try {
      const row = { id: 'r1', notifier: 'pd', incidentId: 'i1', notification: note('n', 'trigger'), status: 'pending' as const, nextAttemptAt: 0, createdAt: 0 };
      const badReceipt = { notifier: null as unknown as string, incidentId: 'i1', receipt: {} };
      await expect(s.alertStore.commit({ incident: inc, insert: [row], receipts: [badReceipt] })).rejects.toThrow(/null|NOT NULL/i);
      expect(await s.alertStore.getIncident('i1')).toBeUndefined();
      expect(await s.alertStore.listOutbox()).toEqual([]);
    } finally {
      await s.close();
    }
  });

  it('stores probes: get, update, newest first, charges counted, pending and in flight', async () => {
    const s = await make();
    const p = s.probeStore;
    try {
      await p.insert(probe('p1'));
      await p.insert(probe('p2', { firedAt: T0 + 1000, result: 'skipped-budget', costMinor: 0 }));
      await p.insert(probe('p3', { firedAt: T0 + 2000, check: 'other' }));
      expect(await p.get('p1')).toEqual(probe('p1'));
      expect(await p.get('nope')).toBeUndefined();
      await p.update('p1', { result: 'accepted', reference: 'ch_1', chargedAt: T0 + 10, attempts: 1 });
      expect(await p.get('p1')).toMatchObject({ result: 'accepted', reference: 'ch_1', chargedAt: T0 + 10, attempts: 1 });
      expect((await p.list({})).map((r) => r.id)).toEqual(['p3', 'p2', 'p1']);
      expect((await p.list({ check: 'card-auth', limit: 1 })).map((r) => r.id)).toEqual(['p2']);
      expect(await p.countCharges({ since: T0 })).toBe(2);
      expect(await p.countCharges({ check: 'card-auth', since: T0 })).toBe(1);
      expect(await p.countCharges({ since: T0 + 1 })).toBe(1);
      expect((await p.listPending()).map((r) => r.id)).toEqual(['p3']);
      expect((await p.findInFlight('card-auth', T0 + 5000))?.id).toBe('p1');
      expect(await p.findInFlight('card-auth', T0 + 120_000)).toBeUndefined();
      await expect(p.insert(probe('p4', { idempotencyKey: 'key-p1' }))).rejects.toThrow(/unique/i);
    } finally {
      await s.close();
    }
  });

  it('keeps learned models: save, load, list, delete', async () => {
    const s = await make();
    const l = s.learnStore;
    try {
      const limits = new LearnedLimits(parseLearnConfig({ min: '1s', max: '6h', model: 'poisson', adapt: false }));
      for (let t = T0; t < T0 + 3 * 3_600_000; t += 1700) limits.observe(t);
      const st = limits.model.toJSON();
      await l.save('b', st, T0);
      await l.save('a', st, T0 + 1);
      await l.save('a', st, T0 + 2);
      expect(await l.list()).toEqual(['a', 'b']);
      const back = await l.load('a');
      expect(back?.savedAt).toBe(T0 + 2);
      expect(back?.state).toEqual(JSON.parse(JSON.stringify(st)));
      // the restored model answers exactly like the saved one
      const restored = new LearnedLimits(limits.config, {}, back!.state);
      expect(restored.describe(T0 + 3 * 3_600_000)).toEqual(limits.describe(T0 + 3 * 3_600_000));
      expect(await l.load('zzz')).toBeNull();
      await l.delete('b');
      expect(await l.list()).toEqual(['a']);
    } finally {
      await s.close();
    }
  });

  it('lets the ProbeManager keep its budget and its one-in-flight rule', async () => {
    const s = await make();
    try {
      const clock = new ManualClock(T0);
      const charges: ChargeRequest[] = [];
      const driver: ProbeDriver = {
        kind: 'http',
        async charge(req: ChargeRequest): Promise<ChargeResult> {
          charges.push(req);
          return { outcome: 'accepted', reference: `ref_${charges.length}` };
        },
      } as ProbeDriver;
      const reports: ProbeReport[] = [];
      if (s.lease) expect(s.lease.isLeader()).toBe(true);
      const m = new ProbeManager({ store: s.probeStore, drivers: { d: driver }, globalBudget: { perHour: 100, perDay: 1000 }, clock, onResult: (_id, r) => reports.push(r) });
      const o = checkProbeSchema.parse({ driver: 'd', amount: 100, currency: 'eur', timeout: '2m', budget: { perHour: 2, perDay: 10 } });
      const fire = (id: string) => m.fire({ check: 'c', probeId: id, reason: 'quiet', deadline: clock.now() + 60_000, options: o });
      expect((await fire('a'))?.result).toBe('accepted');
      expect(await fire('b')).toBeUndefined(); // a is in flight
      expect(reports.at(-1)).toMatchObject({ result: 'error', code: 'PROBE_IN_FLIGHT' });
      await m.proven('a', clock.now() + 100);
      clock.advance(1000);
      expect((await fire('c'))?.result).toBe('accepted');
      await m.lost('c', clock.now() + 100);
      clock.advance(1000);
      expect((await fire('d'))?.result).toBe('skipped-budget');
      expect(reports.at(-1)).toMatchObject({ result: 'budget', budget: { scope: 'check', window: 'hour', limit: 2, used: 2 } });
      expect(charges.map((c) => c.probeId)).toEqual(['a', 'c']);
      await m.stop();
    } finally {
      await s.close();
    }
  });
});
