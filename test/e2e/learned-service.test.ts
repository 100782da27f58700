/**
 * Learned limits in the service: a new stream falls back to its bounds and does not page on silence
 * until its first event (phase `new`), the API shows the limits in force and where they come from,
 * the model learns from real events only, and survives a restart.
 */
import { afterEach, describe, expect, it } from 'vitest';
import BetterSqlite3 from 'better-sqlite3';
import { join } from 'node:path';
import { startService, tempDir, type Running } from '../helpers/service.ts';

const yaml = (dir: string) => `
store: { path: ${join(dir, 'qw.sqlite')} }
checks:
  - name: auth
    quietAfter: auto
    pageAfter: auto
    learn: { min: 2s, max: 10m, falseProbes: 1/week, falsePages: 1/year, timezone: Europe/London, rateDrop: { window: 5m, minDrop: 0.8 } }
`;

const running: Running[] = [];
afterEach(async () => {
  while (running.length) await running.pop()!.close();
});

describe('learned limits in the service', () => {
  it('a new stream warns at its bounds but does not page until its first event, the API says so, and the learned model is persisted across a restart', async () => {
    const dir = tempDir();
    const s1 = await startService(yaml(dir), { dir });
    running.push(s1);
    const c = (await s1.fetch('/v1/checks/auth')).body;
    // Healthchecks' "new": never received an event, so silence alone does not page (no page
    // deadline); the quiet warning keeps the bounds (max). The limits show the longest a learned
    // limit waits (3 weeks) for dashboards that need a number.
    expect(c.limits).toMatchObject({ source: 'bounds', quietAfterMs: 600_000, pageAfterMs: 21 * 86_400_000 });
    expect(c.learning).toMatchObject({ phase: 'new', firstEventAt: null });
    expect(c.deadlines.quietAt).toBeGreaterThan(0);
    expect(c.deadlines.pageAt).toBeNull();
    const body = Array.from({ length: 50 }, () => ({ stream: 'auth' }));
    for (let i = 0; i < 5; i++) expect((await s1.fetch('/v1/events', { method: 'POST', body: JSON.stringify(body) })).status).toBe(202);
    // The first event ends the phase: the warm-up's page limit applies.
    const after = (await s1.fetch('/v1/checks/auth')).body;
    expect(after.learning.phase).toBe('warm-up');
    expect(after.learning.firstEventAt).toBeGreaterThan(0);
    expect(after.deadlines.pageAt).toBeGreaterThan(0);
    // Synthetic (probe) events do not teach the model what normal traffic looks like.
    await s1.fetch('/v1/events', { method: 'POST', body: JSON.stringify([{ stream: 'auth', attributes: { probe_id: 'pr_x' } }]) });
    await running.pop()!.close();

    const db = new BetterSqlite3(join(dir, 'qw.sqlite'), { readonly: true });
    const row = db.prepare('SELECT state FROM learn_models WHERE check_name = ?').get('auth') as { state: string } | undefined;
    db.close();
    expect(row).toBeDefined();
    const saved = JSON.parse(row!.state);
    // 250 real events observed in the current bucket; the probe event is not counted.
    expect(saved.cur.count).toBe(250);
    expect(saved.lastAt).toBeGreaterThan(0);

    const s2 = await startService(yaml(dir), { dir });
    running.push(s2);
    const c2 = (await s2.fetch('/v1/checks/auth')).body;
    expect(c2.status).toBe('unknown');
    expect(c2.limits.source).toBe('bounds'); // warm-up (1 day of history) not reached yet
    expect(c2.learning.phase).toBe('warm-up'); // the saved model remembers the first event
  });

  it('rejects auto limits without learn bounds, naming the field', async () => {
    await expect(startService('checks:\n  - { name: x, quietAfter: auto, pageAfter: 5m }\n')).rejects.toThrow(/checks\[0\]\.learn is required/);
  });
});
