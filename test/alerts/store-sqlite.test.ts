import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SqliteAlertStore } from '../../src/alerts/store-sqlite.ts';
import type { Incident, Notification } from '../../src/alerts/types.ts';

const inc: Incident = {
  id: 'i1',
  check: 'card-auth',
  labels: { team: 'payments' },
  dedupKey: 'quietwatch/i1/card-auth',
  status: 'open',
  severity: 'critical',
  summary: 's',
  reason: 'r',
  details: { reason: 'r', state: 'down' },
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

describe('SqliteAlertStore', () => {
  it('writes a storm of members 50 rows per statement: every one stored, a member written twice keeps its later version', async () => {
    const s = new SqliteAlertStore(new Database(':memory:'));
    await s.init();
    const member = (i: number, status: 'down' | 'recovered') => ({ incidentId: 'i1', member: { check: `c${i}`, labels: { n: String(i) }, status, downAt: 1000 + i, reason: 'r', ...(status === 'recovered' ? { recoveredAt: 5000 } : {}) } });
    // 123 rows: two full statements and 23 single ones; c7 appears in the first statement and again in the second
    const rows = [...Array.from({ length: 60 }, (_, i) => member(i, 'down')), member(7, 'recovered'), ...Array.from({ length: 62 }, (_, i) => member(60 + i, 'down'))];
    await s.commit({ incident: inc, members: rows });
    const got = await s.listMembers(['i1']);
    expect(got).toHaveLength(122);
    expect(new Set(got.map((g) => g.member.check)).size).toBe(122);
    expect(got.find((g) => g.member.check === 'c7')!.member).toMatchObject({ status: 'recovered', recoveredAt: 5000 });
    expect(got.find((g) => g.member.check === 'c121')!.member).toMatchObject({ status: 'down', downAt: 1121, labels: { n: '121' } });
  });

  it('creates its tables idempotently and round-trips incidents, outbox rows, receipts and silences', async () => {
    const db = new Database(':memory:');
    const s = new SqliteAlertStore(db);
    await s.init();
    await s.init();
    const rows = ['pd', 'slack'].map((notifier) => ({
      id: `n1/${notifier}`,
      notifier,
      incidentId: 'i1',
      notification: note('n1', 'trigger'),
      status: 'pending' as const,
      nextAttemptAt: 1000,
      createdAt: 1000,
    }));
    await s.commit({ incident: inc, insert: rows });
    expect(await s.getIncident('i1')).toEqual(inc);
    expect(await s.findOpenIncident('card-auth')).toEqual(inc);
    expect((await s.listOutbox({ status: ['pending'] })).map((r) => [r.seq, r.notifier])).toEqual([
      [1, 'pd'],
      [2, 'slack'],
    ]);
    await s.updateOutbox('n1/pd', { status: 'failed', attempts: 1, lastErrorCode: 'X', lastError: 'boom', permanent: true });
    expect((await s.listOutbox({ notifier: 'pd' }))[0]).toMatchObject({ status: 'failed', attempts: 1, lastErrorCode: 'X', permanent: true });
    await s.updateOutbox('n1/pd', { status: 'delivered', lastErrorCode: null, lastError: null, deliveredAt: 2000 });
    const pdRow = (await s.listOutbox({ notifier: 'pd' }))[0]!;
    expect(pdRow.lastErrorCode).toBeUndefined();
    expect(pdRow.deliveredAt).toBe(2000);

    await s.putReceipt('slack', 'i1', { channel: 'C1', ts: '1.1' });
    await s.putReceipt('slack', 'i1', { channel: 'C1', ts: '1.2' });
    expect(await s.getReceipt('slack', 'i1')).toEqual({ channel: 'C1', ts: '1.2' });
    expect(await s.getReceipt('pd', 'i1')).toBeUndefined();

    await s.commit({ incident: { ...inc, status: 'resolved', resolvedAt: 3000 } });
    expect(await s.findOpenIncident('card-auth')).toBeUndefined();
    expect(await s.listIncidents({ open: false })).toHaveLength(1);
    expect(await s.listIncidents({ open: true })).toHaveLength(0);

    const sil = { id: 's1', matchers: { check: 'c' }, startsAt: 1, endsAt: 2, reason: 'r', createdBy: 'a', createdAt: 0 };
    await s.insertSilence(sil);
    expect(await s.listSilences()).toEqual([sil]);
    expect(await s.deleteSilence('s1')).toBe(true);
    expect(await s.deleteSilence('s1')).toBe(false);
    db.close();
  });

  it('commits atomically: a failing row rolls back the incident too', async () => {
    const db = new Database(':memory:');
    const s = new SqliteAlertStore(db);
    const row = { id: 'dup', notifier: 'pd', incidentId: 'i1', notification: note('n', 'trigger'), status: 'pending' as const, nextAttemptAt: 0, createdAt: 0 };
    await expect(s.commit({ incident: inc, insert: [row, row] })).rejects.toThrow(/UNIQUE/);
    expect(await s.getIncident('i1')).toBeUndefined();
    expect(await s.listOutbox()).toEqual([]);
    db.close();
  });

  it('keeps everything in a file across handles', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qw-store-'));
    try {
      const file = join(dir, 'a.db');
      const a = new Database(file);
      await new SqliteAlertStore(a).commit({ incident: inc });
      a.close();
      const b = new Database(file);
      expect(await new SqliteAlertStore(b).getIncident('i1')).toEqual(inc);
      b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
