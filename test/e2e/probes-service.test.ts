/**
 * The whole probe loop through the real service: engine -> ProbeManager -> http driver -> a local
 * contract acquirer (real HTTP server) -> the synthetic transaction posted back to /v1/events.
 * Warnings and pages reach an in-house webhook receiver (signed), so the test sees what on-call sees.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ContractAcquirer, type SyntheticTransaction } from '../contract/acquirer.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../contract/webhook-receiver.ts';
import { waitFor } from '../helpers/process.ts';
import { startService, type Running } from '../helpers/service.ts';

const ACQ_TOKEN = 'acq-secret-token-0123456789';
const HOOK_SECRET = 'webhook-secret-0123456789';

type Pipeline = 'healthy' | 'broken';

interface Rig {
  s: Running;
  acq: ContractAcquirer;
  hook: WebhookReceiver;
  pipeline: { mode: Pipeline };
}
let rigs: Rig[] = [];
afterEach(async () => {
  for (const r of rigs) {
    await r.s.close();
    await r.acq.close();
    await r.hook.close();
  }
  rigs = [];
});

async function rig(opts: { budget?: string; timeout?: string; learnTimeout?: string } = {}): Promise<Rig> {
  const acq = await ContractAcquirer.start({ token: ACQ_TOKEN, stream: 'card-auth' });
  const hook = await startWebhookReceiver({ secret: HOOK_SECRET });
  const s = await startService(
    `
probes:
  drivers:
    acquirer:
      type: http
      url: ${acq.url}/v1/charges
      headers: { Authorization: "Bearer \${ACQ_TOKEN}" }
      body: { amount: "{{amount}}", currency: "{{currency}}", probe_id: "{{probeId}}", card_token: tok_probe }
      timeout: 1s
      referencePath: data.id
      reverse: { url: "${acq.url}/v1/charges/{{reference}}/void" }
alerts:
  notifiers:
    hook: { type: webhook, url: "${hook.url}", secret: "\${HOOK_SECRET}" }
  routes: { default: { warning: [hook], page: [hook] } }
  retry: { minDelay: 50ms, maxDelay: 200ms }
checks:
  - name: cards
    stream: card-auth
    quietAfter: 600ms
    pageAfter: 20s
    probe:
      driver: acquirer
      amount: 150
      currency: eur
      timeout: ${opts.timeout ?? '1500ms'}${opts.learnTimeout ? `\n      learnTimeout: ${opts.learnTimeout}` : ''}
      backoff: { factor: 1, max: 1s }
      budget: ${opts.budget ?? '{ perHour: 10, perDay: 10 }'}
`,
    { env: { ACQ_TOKEN, HOOK_SECRET } },
  );
  const pipeline = { mode: 'healthy' as Pipeline };
  // The "pipeline": a healthy one delivers the synthetic transaction 100 ms later; a broken one swallows it.
  acq.onTransaction((tx: SyntheticTransaction) => {
    if (pipeline.mode !== 'healthy') return;
    setTimeout(() => {
      // The service may already be closing at the end of a test: ignore that.
      s.fetch('/v1/events', { method: 'POST', body: JSON.stringify([{ stream: 'card-auth', time: tx.time, id: tx.id, attributes: tx.attributes }]) }).catch(() => undefined);
    }, 100);
  });
  const r = { s, acq, hook, pipeline };
  rigs.push(r);
  return r;
}

const check = async (s: Running) => (await s.fetch('/v1/checks/cards')).body;
const notifications = (hook: WebhookReceiver) => hook.received.map((r) => (r.json as { notification: { action: string; details: { warningKind?: string }; summary: string } }).notification);

describe('probes through the real service and a contract acquirer', () => {
  it('quiet -> exactly one probe -> its transaction -> ok; latency, reference and reversal recorded; nobody paged', async () => {
    const { s, acq, hook } = await rig();
    await s.fetch('/v1/streams/card-auth/ping', { method: 'POST' });
    const proven = await waitFor(async () => {
      const c = await check(s);
      return c.probes?.[0]?.result === 'proven' ? c : undefined;
    });
    expect(proven.status).toBe('ok');
    // ok (the ping) -> quiet -> ok (proven); on a loaded machine the service may start more than
    // quietAfter before the ping, and the check goes quiet from its start, without the first ok
    // (then the probe fired at that quiet may be overtaken by the ping: ok on "events received",
    // the probe proven after it without a flip of its own; or the start's probe and the one after
    // the ping are both charged): exactly one charge on the normal path, one per probe always.
    const tos = proven.flips.map((f: { to: string }) => f.to).reverse();
    expect([['ok', 'quiet', 'ok'], ['quiet', 'ok'], ['quiet', 'ok', 'quiet', 'ok']]).toContainEqual(tos);
    expect(proven.flips[0].reason).toMatch(tos.length === 3 || tos.length === 4 ? /proven/ : /proven|events received/);
    expect(acq.charges).toHaveLength(tos[0] === 'ok' ? 1 : proven.probes.length);
    const p = proven.probes.find((x: { result: string }) => x.result === 'proven');
    const charge = acq.charges.find((c) => c.probeId === p.id)!;
    expect(p).toMatchObject({ reason: 'quiet', reference: charge.id, costMinor: 150, currency: 'eur' });
    expect(p.latencyMs).toBeGreaterThanOrEqual(100);
    expect(p.latencyMs).toBeLessThan(1500);
    expect(charge).toMatchObject({ probeId: p.id, amount: 150, currency: 'eur' });
    await waitFor(() => (acq.reversals.length === acq.charges.length ? true : undefined));
    expect(acq.reversals.map((r) => r.reference).sort()).toEqual(acq.charges.map((c) => c.id).sort());
    expect((await s.fetch('/v1/incidents')).body.incidents).toEqual([]);
    expect(notifications(hook).filter((n) => n.action === 'trigger')).toEqual([]);
    // GET /v1/probes?check= lists it too.
    const list = (await s.fetch('/v1/probes?check=cards')).body;
    expect(list.probes[0].id).toBe(p.id);
    expect(list.budget.check.perHour).toMatchObject({ used: acq.charges.length, limit: 10 });
  });

  it('probe.learnTimeout: after 3 proofs the wait is 3 x the slowest, shown in GET /v1/checks; a lost probe pages at it', async () => {
    const { s, acq, hook, pipeline } = await rig({ timeout: '10s', learnTimeout: '{ factor: 3, min: 400ms, proofs: 3 }' });
    await s.fetch('/v1/streams/card-auth/ping', { method: 'POST' });
    expect((await check(s)).probeWait).toMatchObject({ ms: 10_000, source: 'configured' });
    const learned = await waitFor(async () => {
      const c = await check(s);
      return c.probeWait?.source === 'learned' ? c : undefined;
    }, 20_000);
    const proofs = (await s.fetch('/v1/probes?check=cards')).body.probes.filter((p: { result: string }) => p.result === 'proven');
    expect(proofs.length).toBeGreaterThanOrEqual(3);
    // 3 x the slowest of the three newest proofs at that moment (one more may have come since): one of theirs.
    expect(learned.probeWait).toMatchObject({ source: 'learned', proofs: 3 });
    // The engine times a proof from the probe's request, the probe record from the charge: the
    // state's commit (on the writer thread) lies between, so the two differ by up to tens of ms.
    const near = proofs.map((p: { latencyMs: number }) => Math.abs(Math.max(400, Math.ceil(3 * p.latencyMs)) - learned.probeWait.ms));
    expect(Math.min(...near), JSON.stringify({ wait: learned.probeWait, proofs: proofs.map((p: { latencyMs: number }) => p.latencyMs) })).toBeLessThanOrEqual(150);
    expect(learned.probeWait.ms).toBeLessThan(10_000);
    // Now the pipeline breaks: the next probe is lost at the learned wait, not after 10 s.
    pipeline.mode = 'broken';
    const down = await waitFor(async () => {
      const c = await check(s);
      return c.status === 'down' ? c : undefined;
    }, 20_000);
    const lost = (await s.fetch('/v1/probes?check=cards')).body.probes[0];
    expect(lost.result).toBe('lost');
    expect(lost.deadline - lost.firedAt).toBeLessThan(10_000);
    expect(down.flips[0]).toMatchObject({ to: 'down', at: lost.deadline });
    expect(down.flips[0].reason).toMatch(/no event within [\d.]+m?s \(learned: 3 x the slowest of the last 3 proofs\)/);
    await waitFor(() => (notifications(hook).some((n) => n.action === 'trigger') ? true : undefined));
    expect(acq.charges.length).toBeLessThanOrEqual(10);
  });

  it('broken -> the probe is lost -> down exactly at the probe deadline, paged once', async () => {
    const { s, acq, hook, pipeline } = await rig();
    pipeline.mode = 'broken';
    await s.fetch('/v1/streams/card-auth/ping', { method: 'POST' });
    const down = await waitFor(async () => {
      const c = await check(s);
      return c.status === 'down' ? c : undefined;
    });
    expect(acq.charges).toHaveLength(1);
    const p = (await s.fetch('/v1/probes?check=cards')).body.probes[0];
    expect(p.result).toBe('lost');
    expect(down.flips[0]).toMatchObject({ from: 'quiet', to: 'down', at: p.deadline });
    // the deadline is the quiet decision + 1.5 s; the charge goes out just after that decision
    // (a few ms idle, 152 ms seen on a loaded machine), so the probe has most of its timeout
    expect(p.deadline - p.firedAt).toBeGreaterThanOrEqual(1000);
    expect(p.deadline - p.firedAt).toBeLessThanOrEqual(1500);
    expect(down.flips[0].reason).toMatch(/lost: charge accepted \(ref ch_1\), no event within 1.5s/);
    await waitFor(() => (notifications(hook).some((n) => n.action === 'trigger') ? true : undefined));
    expect(notifications(hook).filter((n) => n.action === 'trigger')).toHaveLength(1);
    expect(down.incident).toMatchObject({ check: 'cards' });
    // A lost charge is still a test charge that went through: it is reversed.
    await waitFor(() => (acq.reversals.length === 1 ? true : undefined));
  });

  it('declined -> a warning to the team, not a page', async () => {
    const { s, acq, hook } = await rig();
    acq.script('decline');
    await s.fetch('/v1/streams/card-auth/ping', { method: 'POST' });
    await waitFor(() => (notifications(hook).some((n) => n.details.warningKind === 'probe-refused') ? true : undefined));
    const c = await check(s);
    expect(c.status).toBe('quiet');
    expect(c.probes[0]).toMatchObject({ result: 'refused' });
    expect(acq.charges).toHaveLength(0);
    expect(notifications(hook).filter((n) => n.action === 'trigger')).toEqual([]);
    expect((await s.fetch('/v1/incidents')).body.incidents).toEqual([]);
  });

  it('a 500 then success -> exactly one charge, both attempts with the same idempotency key', async () => {
    const { s, acq } = await rig({ timeout: '5s' });
    acq.script('fail-500');
    await s.fetch('/v1/streams/card-auth/ping', { method: 'POST' });
    await waitFor(async () => ((await check(s)).probes?.[0]?.result === 'proven' ? true : undefined), 15_000);
    const attempts = acq.chargeAttempts();
    expect(attempts).toHaveLength(2);
    expect(attempts[0]!.headers['idempotency-key']).toBe(attempts[1]!.headers['idempotency-key']);
    expect(acq.charges).toHaveLength(1);
    expect((await check(s)).probes[0].attempts).toBe(2);
  });

  it('budget exhausted -> no charge and an alert; a manual probe is refused by the budget too', async () => {
    const { s, acq, hook } = await rig({ budget: '{ perHour: 1, perDay: 5 }' });
    await s.fetch('/v1/streams/card-auth/ping', { method: 'POST' });
    await waitFor(async () => ((await check(s)).probes?.[0]?.result === 'proven' ? true : undefined));
    // The next quiet spell wants a second probe: the per-hour budget of 1 stops it.
    await waitFor(() => (notifications(hook).some((n) => n.details.warningKind === 'budget') ? true : undefined), 10_000);
    expect(acq.charges).toHaveLength(1);
    const probes = (await s.fetch('/v1/probes?check=cards')).body.probes;
    expect(probes[0]).toMatchObject({ result: 'skipped-budget', costMinor: 0 });
    const warn = notifications(hook).find((n) => n.details.warningKind === 'budget')!;
    expect(warn.summary).toMatch(/budget/);
  });

  it('POST /v1/checks/{name}/probe fires one by hand and refuses a second while it is in flight', async () => {
    const { s, pipeline } = await rig({ timeout: '3s' });
    pipeline.mode = 'broken';
    const r1 = await s.fetch('/v1/checks/cards/probe', { method: 'POST' });
    expect(r1.status).toBe(202);
    const r2 = await s.fetch('/v1/checks/cards/probe', { method: 'POST' });
    expect(r2).toMatchObject({ status: 409, body: { error: 'conflict' } });
    expect((await s.fetch('/v1/checks/nope/probe', { method: 'POST' })).status).toBe(404);
  });

  it('no acquirer secret appears in any API answer', async () => {
    const { s } = await rig();
    await s.fetch('/v1/streams/card-auth/ping', { method: 'POST' });
    await waitFor(async () => ((await check(s)).probes?.length ? true : undefined));
    for (const path of ['/v1/checks/cards', '/v1/probes', '/openapi.json', '/readyz']) {
      const r = await s.fetch(path);
      expect(JSON.stringify(r.body)).not.toContain(ACQ_TOKEN);
      expect(JSON.stringify(r.body)).not.toContain(HOOK_SECRET);
    }
  });
});
