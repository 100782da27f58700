import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { ADMIN, INGEST, READ, openStream, sleep, spec, startBoard, until, type BoardService, type Stream } from './harness.ts';

let s: BoardService;
const streams: Stream[] = [];
const open = async (path: string, init?: RequestInit) => {
  const st = await openStream(s.url + path, init);
  streams.push(st);
  return st;
};

beforeAll(async () => {
  s = await startBoard({
    checks: [spec('payments', 60_000, 120_000), spec('busy', 60_000, 120_000)],
    autoIncidents: true,
    board: { heartbeatMs: 200, pollMs: 200 },
  });
});
afterEach(async () => {
  for (const st of streams.splice(0)) await st.close();
  await until(() => s.plugin.screens() === 0, 3000, 'every screen to leave');
});
afterAll(() => s.close());

describe('GET /v1/board/stream', () => {
  it('sends the whole board as the first event, with SSE headers', async () => {
    const st = await open(`/v1/board/stream?token=${READ}`);
    expect(st.status).toBe(200);
    expect(st.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(st.headers.get('cache-control')).toMatch(/no-cache/);
    expect(st.headers.get('x-accel-buffering')).toBe('no');
    const first = await st.next((f) => f.event !== undefined);
    expect(first.event).toBe('snapshot');
    expect(st.frames.findIndex((f) => f.event)).toBe(st.frames.indexOf(first));
    expect(first.data.checks.map((c: { name: string }) => c.name)).toEqual(['payments', 'busy']);
    expect(first.data.checks[0]).toMatchObject({ name: 'payments', status: 'unknown', lastEventAt: null, quietAfterMs: 60_000, pageAfterMs: 120_000 });
    expect(Math.abs(first.data.serverTime - Date.now())).toBeLessThan(5000);
    expect(first.data.heartbeatMs).toBe(200);
    expect(first.data.incidents).toEqual([]);
    // Public-safe: no match rules, labels or probe ids on the board.
    expect(Object.keys(first.data.checks[0]).sort()).toEqual(['held', 'lagMs', 'lastEventAt', 'name', 'pageAfterMs', 'probe', 'quietAfterMs', 'since', 'status']);
  });

  it('pushes a check update when an event flips the check to ok', async () => {
    const st = await open(`/v1/board/stream?token=${READ}`);
    await st.next((f) => f.event === 'snapshot');
    const before = Date.now();
    expect(await s.ping('payments')).toBe(202);
    const f = await st.next((x) => x.event === 'check' && x.data.check.name === 'payments' && x.data.check.status === 'ok');
    expect(f.data.check.lastEventAt).toBeGreaterThanOrEqual(before - 5);
    expect(typeof f.data.serverTime).toBe('number');
  });

  it('pushes quiet, then down, as deadlines pass with no event, and the incident that opens', async () => {
    const fast = await startBoard({ checks: [spec('fast', 300, 600)], autoIncidents: true });
    onTestFinished(() => fast.close().then(() => undefined));
    const st = await openStream(`${fast.url}/v1/board/stream?token=${READ}`);
    streams.push(st);
    await st.next((f) => f.event === 'snapshot');
    await fast.ping('fast');
    await st.next((f) => f.event === 'check' && f.data.check.name === 'fast' && f.data.check.status === 'ok');
    await st.next((f) => f.event === 'check' && f.data.check.name === 'fast' && f.data.check.status === 'quiet', 3000);
    await st.next((f) => f.event === 'check' && f.data.check.name === 'fast' && f.data.check.status === 'down', 3000);
    const inc = await st.next((f) => f.event === 'incidents' && f.data.incidents.some((i: { check: string }) => i.check === 'fast'), 3000);
    expect(inc.data.incidents[0]).toMatchObject({ check: 'fast', acknowledgedAt: null });
    expect(inc.data.incidents[0].summary).toContain('fast');
    // Recovery resolves it, and the board drops it.
    const n = st.frames.length;
    await fast.ping('fast');
    await st.next((f) => f.event === 'check' && f.data.check.name === 'fast' && f.data.check.status === 'ok', 3000, n);
    await st.next((f) => f.event === 'incidents' && f.data.incidents.length === 0, 3000, n);
  });

  it('coalesces a burst into at most one update per check per 250 ms, and the last state always goes out', async () => {
    const st = await open(`/v1/board/stream?token=${READ}`);
    await st.next((f) => f.event === 'snapshot');
    const n = st.frames.length;
    const t0 = Date.now();
    for (let i = 0; i < 40; i++) {
      await s.runtime.ingest([{ stream: 'busy', arrivedAt: Date.now(), time: Date.now(), attributes: {} }]);
      await sleep(10);
    }
    const elapsed = Date.now() - t0;
    const last = s.runtime.snapshot('busy')!.lastEventAt;
    const f = await st.next((x) => x.event === 'check' && x.data.check.name === 'busy' && x.data.check.lastEventAt === last, 2000, n);
    expect(f).toBeDefined();
    const busy = st.frames.slice(n).filter((x) => x.event === 'check' && x.data.check.name === 'busy');
    // 40 batches over `elapsed` ms: one push at once, then at most one per 250 ms, plus the trailing one.
    expect(busy.length).toBeGreaterThanOrEqual(2);
    expect(busy.length).toBeLessThanOrEqual(Math.ceil(elapsed / 250) + 2);
    expect(busy.length).toBeLessThan(40);
  });

  it('pushes a change that comes with neither a flip nor events (a probe fired) on the next poll', async () => {
    const b = await startBoard({
      checks: [{ ...spec('probed', 60_000, 120_000), probe: { timeoutMs: 30_000, backoffFactor: 2, backoffMaxMs: 120_000 } }],
      board: { pollMs: 200 },
    });
    onTestFinished(() => b.close().then(() => undefined));
    await b.ping('probed');
    const st = await openStream(`${b.url}/v1/board/stream?token=${READ}`);
    streams.push(st);
    const snap = await st.next((f) => f.event === 'snapshot');
    expect(snap.data.checks[0].probe).toBeNull();
    const flips: unknown[] = [];
    const onFlip = (f: unknown) => flips.push(f);
    b.runtime.on('flip', onFlip);
    try {
      await b.runtime.requestProbe('probed', 'manual');
      const f = await st.next((x) => x.event === 'check' && x.data.check.name === 'probed' && x.data.check.probe !== null, 2000);
      expect(f.data.check.probe).toMatchObject({ reason: 'manual', accepted: false });
      expect(flips).toEqual([]);
    } finally {
      b.runtime.off('flip', onFlip);
    }
  });

  it('sends a heartbeat comment and a time event every heartbeatMs', async () => {
    const st = await open(`/v1/board/stream?token=${READ}`);
    await st.next((f) => f.event === 'snapshot');
    await st.next((f) => f.comment === 'heartbeat', 2000);
    const t = await st.next((f) => f.event === 'time', 2000);
    expect(Math.abs(t.data.serverTime - Date.now())).toBeLessThan(5000);
  });

  it('removes its runtime listeners when the last screen disconnects (no leak)', async () => {
    const base = { flip: s.runtime.listenerCount('flip'), events: s.runtime.listenerCount('events') };
    expect(s.plugin.screens()).toBe(0);
    const a = await open(`/v1/board/stream?token=${READ}`);
    const b = await open(`/v1/board/stream?token=${READ}`);
    const c = await open(`/v1/board/stream?token=${READ}`);
    await Promise.all([a, b, c].map((x) => x.next((f) => f.event === 'snapshot')));
    expect(s.plugin.screens()).toBe(3);
    // One shared set of listeners, however many screens.
    expect(s.runtime.listenerCount('flip')).toBe(base.flip + 1);
    expect(s.runtime.listenerCount('events')).toBe(base.events + 1);
    await a.close();
    await b.close();
    await until(() => s.plugin.screens() === 1, 3000, 'two screens to leave');
    expect(s.runtime.listenerCount('flip')).toBe(base.flip + 1);
    // The remaining screen still gets updates.
    await s.ping('payments');
    await c.next((f) => f.event === 'check' && f.data.check.name === 'payments');
    await c.close();
    await until(() => s.plugin.screens() === 0, 3000, 'the last screen to leave');
    expect(s.runtime.listenerCount('flip')).toBe(base.flip);
    expect(s.runtime.listenerCount('events')).toBe(base.events);
  });

  it('does not leak across many connect/disconnect cycles', async () => {
    // The board's history listens to flips for good (the strips); the screens' listeners come and go.
    const base = s.runtime.listenerCount('flip');
    const baseEvents = s.runtime.listenerCount('events');
    for (let i = 0; i < 15; i++) {
      const st = await openStream(`${s.url}/v1/board/stream?token=${READ}`);
      await st.next((f) => f.event === 'snapshot');
      await st.close();
    }
    await until(() => s.plugin.screens() === 0, 3000, 'every screen to leave');
    expect(s.runtime.listenerCount('flip')).toBe(base);
    expect(s.runtime.listenerCount('events')).toBe(baseEvents);
  });
});

describe('board auth', () => {
  it.each([
    ['no token', '/v1/board/stream', undefined, 401],
    ['no token', '/', undefined, 401],
    ['no token', '/v1/board', undefined, 401],
    ['an unknown token in the URL', `/v1/board/stream?token=${'x'.repeat(26)}`, undefined, 401],
    ['a read token in the URL', `/v1/board/stream?token=${READ}`, undefined, 200],
    ['a read token in the URL', `/?token=${READ}`, undefined, 200],
    ['a read token in the URL', `/v1/board?token=${READ}`, undefined, 200],
    ['a read token as a bearer header', '/v1/board/stream', READ, 200],
    ['an admin token in the URL', `/v1/board/stream?token=${ADMIN}`, undefined, 200],
    ['an ingest-only token in the URL', `/v1/board/stream?token=${INGEST}`, undefined, 403],
    ['an ingest-only token in the URL', `/?token=${INGEST}`, undefined, 403],
    ['an ingest-only token as a bearer header', '/v1/board', INGEST, 403],
  ])('%s: GET %s -> %s', async (_d, path, bearer, status) => {
    const st = await open(path, bearer ? { headers: { authorization: `Bearer ${bearer}` } } : {});
    expect(st.status).toBe(status);
  });

  it('keeps the query token to the board: other read routes still want the header', async () => {
    const r = await fetch(`${s.url}/v1/checks?token=${READ}`);
    expect(r.status).toBe(401);
  });
});

describe('GET / and GET /v1/board', () => {
  it('serves a self-contained page with a strict CSP and never echoes the token', async () => {
    const r = await fetch(`${s.url}/?token=${READ}`);
    const html = await r.text();
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = r.headers.get('content-security-policy')!;
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/script-src 'sha256-/);
    expect(csp).not.toMatch(/unsafe-inline/);
    expect(r.headers.get('referrer-policy')).toBe('no-referrer');
    expect(html).not.toContain(READ);
    // No external assets: no src= or href= pointing anywhere but data:.
    expect(html).not.toMatch(/\ssrc=/);
    expect([...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1])).toEqual(['data:,']);
    expect(html).toContain('textContent');
    expect(html).not.toMatch(/innerHTML|insertAdjacentHTML|document\.write/);
  });

  it('serves the same snapshot as JSON', async () => {
    s.incidents.push({ id: 'inc_manual', check: 'payments', openedAt: Date.now() - 1000, ackedAt: Date.now(), summary: 'payments silent' });
    try {
      const r = await fetch(`${s.url}/v1/board`, { headers: { authorization: `Bearer ${READ}` } });
      expect(r.status).toBe(200);
      const body = await r.json();
      expect(body.checks.map((c: { name: string }) => c.name)).toEqual(['payments', 'busy']);
      expect(body.incidents).toEqual([expect.objectContaining({ id: 'inc_manual', check: 'payments', acknowledgedAt: expect.any(Number), summary: 'payments silent' })]);
    } finally {
      s.incidents.splice(0);
    }
  });

  it('documents the three routes in /openapi.json', async () => {
    const doc = await (await fetch(`${s.url}/openapi.json`)).json();
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/', '/v1/board', '/v1/board/stream']));
    expect(doc.paths['/v1/board/stream'].get.responses['200'].content).toHaveProperty('text/event-stream');
  });
});

describe('a board that stays up when incidents cannot be read', () => {
  it('serves the checks with an error note when the incident callback fails or hangs', async () => {
    let mode: 'ok' | 'fail' | 'hang' = 'ok';
    const b = await startBoard({
      checks: [spec('c1', 60_000, 120_000)],
      board: {
        incidentsTimeoutMs: 200,
        incidents: async () => {
          if (mode === 'fail') throw new Error('alert store is down');
          if (mode === 'hang') return new Promise(() => undefined);
          return [{ id: 'i1', check: 'c1', openedAt: 1 }];
        },
      },
    });
    try {
      const get = async () => (await fetch(`${b.url}/v1/board?token=${READ}`)).json();
      expect((await get()).incidents).toHaveLength(1);
      mode = 'fail';
      const failed = await get();
      expect(failed.checks).toHaveLength(1);
      expect(failed.incidentsError).toMatch(/could not be read/);
      expect(failed.incidents).toHaveLength(1); // the last list read, marked as possibly stale
      mode = 'hang';
      const t0 = Date.now();
      const hung = await get();
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(hung.incidentsError).toBeDefined();
    } finally {
      await b.close();
    }
  });
});

describe('which replica leads', () => {
  it('is in the snapshot, and a change of leader is pushed to open screens', async () => {
    let replica: { self: string; role: 'leader' | 'follower'; leader: string | null } = { self: 'qw-b:7:bbbb', role: 'follower', leader: 'qw-a:5:aaaa' };
    const b = await startBoard({ checks: [spec('c1', 60_000, 120_000)], board: { pollMs: 100, replica: () => replica } });
    onTestFinished(() => b.close().then(() => undefined));
    const json = await (await fetch(`${b.url}/v1/board?token=${READ}`)).json();
    expect(json.replica).toEqual({ self: 'qw-b:7:bbbb', role: 'follower', leader: 'qw-a:5:aaaa' });
    const st = await openStream(`${b.url}/v1/board/stream?token=${READ}`);
    streams.push(st);
    const snap = await st.next((f) => f.event === 'snapshot');
    expect(snap.data.replica).toEqual(replica);
    // the leader is killed: nobody leads for a moment, then this replica takes over
    replica = { ...replica, leader: null };
    const gone = await st.next((f) => f.event === 'replica', 2000);
    expect(gone.data.replica).toEqual({ self: 'qw-b:7:bbbb', role: 'follower', leader: null });
    expect(typeof gone.data.serverTime).toBe('number');
    const n = st.frames.length;
    replica = { self: 'qw-b:7:bbbb', role: 'leader', leader: 'qw-b:7:bbbb' };
    const took = await st.next((f) => f.event === 'replica', 2000, n);
    expect(took.data.replica).toEqual(replica);
    // no change, no frame
    await sleep(400);
    expect(st.frames.filter((f) => f.event === 'replica')).toHaveLength(2);
  });

  it('is left off with one process (no replicas), and a failing source never breaks the board', async () => {
    const json = await (await fetch(`${s.url}/v1/board?token=${READ}`)).json();
    expect(json).not.toHaveProperty('replica');
    const b = await startBoard({
      checks: [spec('c1', 60_000, 120_000)],
      board: {
        replica: () => {
          throw new Error('lease gone');
        },
      },
    });
    try {
      const r = await fetch(`${b.url}/v1/board?token=${READ}`);
      expect(r.status).toBe(200);
      const body = await r.json();
      expect(body.checks).toHaveLength(1);
      expect(body).not.toHaveProperty('replica');
    } finally {
      await b.close();
    }
  });
});

describe('board.public', () => {
  it('opens the board read-only without a token, and nothing else', async () => {
    const b = await startBoard({ checks: [spec('c1', 60_000, 120_000)], public: true });
    try {
      expect((await fetch(`${b.url}/`)).status).toBe(200);
      expect((await fetch(`${b.url}/v1/board`)).status).toBe(200);
      const st = await openStream(`${b.url}/v1/board/stream`);
      expect(st.status).toBe(200);
      await st.next((f) => f.event === 'snapshot');
      await st.close();
      expect((await fetch(`${b.url}/v1/checks`)).status).toBe(401);
      expect((await fetch(`${b.url}/v1/streams/c1/ping`, { method: 'POST' })).status).toBe(401);
      expect((await fetch(`${b.url}/v1/checks/c1/pause`, { method: 'POST' })).status).toBe(401);
    } finally {
      await b.close();
    }
  });
});

describe('shutdown', () => {
  it('closes the server promptly while screens are streaming, and the streams end', async () => {
    const b = await startBoard({ checks: [spec('c1', 60_000, 120_000)] });
    const st = await openStream(`${b.url}/v1/board/stream?token=${READ}`);
    await st.next((f) => f.event === 'snapshot');
    const t0 = Date.now();
    expect(await b.close()).toEqual({ forced: false });
    expect(Date.now() - t0).toBeLessThan(1000);
    await expect(st.next(() => false, 2000)).rejects.toThrow(/stream ended/);
    expect(b.runtime.listenerCount('flip')).toBe(0);
  });
});
