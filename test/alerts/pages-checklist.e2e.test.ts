/**
 * Pages that answer the on-call questions, as a checklist over the pages real scenarios produce.
 * Real services (the sandbox pipeline and acquirer, learned models seeded as the service saves
 * them), real PagerDuty and Slack contract servers. For every page and Slack message of every
 * scenario: what broke; since when; how abnormal against this hour's normal; what quietwatch tried
 * (probe, reference, result, when); what to do (runbook); where to look (the dashboard on the
 * incident's time range). Scenarios: quiet -> proven (and the probe-less check that pages),
 * broken -> lost, acquirer-down -> refused, a rate drop, a learned limit.
 */
import BetterSqlite3 from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prng } from '../../src/backtest/trace.ts';
import { parseLearnConfig } from '../../src/learn/config.ts';
import { LearnedLimits } from '../../src/learn/model.ts';
import { SqliteLearnStore } from '../../src/learn/store-sqlite.ts';
import { startPagerDutyContract, type PagerDutyContract, type PdEvent } from '../contract/pagerduty.ts';
import { startSlackContract, type SlackContract, type SlackMessage } from '../contract/slack.ts';
import { waitFor } from '../helpers/process.ts';
import { poissonCount } from '../helpers/random.ts';
import { startService, tempDir, type Running } from '../helpers/service.ts';

const ROUTING_KEY = 'R0123456789abcdef0123456789abcde';
const SLACK_TOKEN = 'xoxb-test-token-0123456789';
const ENV = { PD_KEY: ROUTING_KEY, SLACK_TOKEN };
const DASH = 'https://grafana.example/d/quietwatch-check/check';

let pd: PagerDutyContract;
let slack: SlackContract;
const services: Running[] = [];
const timers: NodeJS.Timeout[] = [];

beforeAll(async () => {
  pd = await startPagerDutyContract({ validKeys: [ROUTING_KEY] });
  slack = await startSlackContract({ token: SLACK_TOKEN, channels: ['C0PAYMENTS'] });
});
afterAll(async () => {
  for (const t of timers) clearInterval(t);
  await Promise.all(services.map((s) => s.close()));
  await pd?.close();
  await slack?.close();
});

const notifiersYaml = () => `
alerts:
  notifiers:
    pager: { type: pagerduty, routingKey: "\${PD_KEY}", eventsUrl: "${pd.url}", timeoutMs: 2000 }
    team: { type: slack, token: "\${SLACK_TOKEN}", channel: C0PAYMENTS, apiUrl: "${slack.apiUrl}", timeoutMs: 2000 }
  routes: { default: { warning: [team], page: [pager, team] } }
  retry: { minDelay: 50ms, maxDelay: 300ms }
`;

/** The sandbox pipeline at a flat 20 events/s, a visa check with a probe and a mastercard check without. */
function sandboxYaml(prefix: string, withMastercard: boolean): string {
  return `
${notifiersYaml()}
sandbox:
  enabled: true
  acquirerDelay: 500ms
  streams:
    - { stream: card-auth, ratePerSec: 20, nightFactor: 1, attributes: { scheme: [visa, mastercard] } }
probes:
  drivers:
    test-acquirer: { type: sandbox }
checks:
  - name: ${prefix}-visa
    stream: card-auth
    match: { scheme: visa }
    quietAfter: 3s
    pageAfter: 9s
    labels: { team: payments }
    runbook: https://runbooks.example/card-auth
    dashboard: "${DASH}?var-check=${prefix}-visa"
    probe: { driver: test-acquirer, amount: 100, currency: gbp, timeout: 3s, backoff: { factor: 2, max: 1m } }
${withMastercard ? mastercardYaml(prefix) : ''}`;
}

function mastercardYaml(prefix: string): string {
  return `
  - name: ${prefix}-mastercard
    stream: card-auth
    match: { scheme: mastercard }
    quietAfter: 3s
    pageAfter: 8s
    labels: { team: payments }
    runbook: https://runbooks.example/card-auth
    dashboard: "${DASH}?var-check=${prefix}-mastercard"
`;
}

/**
 * One service per scenario, and only the checks it is about: checks that go down together are
 * grouped into one incident (a page of its own), which is not what these pages are about.
 */
async function sandboxService(prefix: string, withMastercard = false): Promise<Running> {
  const s = await startService(sandboxYaml(prefix, withMastercard), { env: ENV });
  services.push(s);
  for (const c of withMastercard ? ['visa', 'mastercard'] : ['visa']) await waitFor(async () => ((await s.fetch(`/v1/checks/${prefix}-${c}`)).body.status === 'ok' ? true : undefined), 10_000);
  return s;
}

const setMode = (s: Running, mode: string) =>
  s.fetch('/v1/sandbox/pipeline', { method: 'POST', body: JSON.stringify({ mode }), headers: { 'content-type': 'application/json' } });

// ---------------------------------------------------------------- reading the answers back

const LABELS = ['what broke', 'since', 'how abnormal', 'quietwatch tried', 'what to do', 'where to look'] as const;
type Answers = Record<(typeof LABELS)[number], string>;

/** The six answers of a Slack message (its first section, `• label: value` lines). */
function slackAnswers(m: SlackMessage): Answers {
  const blocks = m.blocks as Array<{ type: string; text?: { text: string } }>;
  const text = blocks[0]!.text!.text;
  const out = {} as Answers;
  for (const l of LABELS) {
    const line = text.split('\n').find((x) => x.startsWith(`• ${l}: `));
    expect(line, `Slack message lacks "${l}":\n${text}`).toBeDefined();
    out[l] = line!.slice(`• ${l}: `.length).replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  }
  return out;
}

function pdAnswers(e: PdEvent): Answers {
  const cd = e.payload!.custom_details as Record<string, string>;
  const out = {} as Answers;
  for (const l of LABELS) {
    const v = cd[l.replace(/ /g, '_')];
    expect(v, `PagerDuty custom_details lack "${l}"`).toBeTypeOf('string');
    out[l] = v!;
  }
  return out;
}

/** The checklist every page passes, plus the scenario's own expectations. */
function assertAnswers(a: Answers, check: string, want: { broke: RegExp; abnormal: RegExp; tried: RegExp; sinceAtMost?: number; lastEvent?: boolean }, context: string): void {
  const why = `${context}: ${JSON.stringify(a, null, 1)}`;
  expect(a['what broke'], why).toMatch(new RegExp(`^${check} `));
  expect(a['what broke'], why).toMatch(want.broke);
  // since: an instant, and how long before this message.
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ), .*: (\S+) before this message$/.exec(a.since);
  expect(m, why).not.toBeNull();
  const since = Date.parse(m![1]!);
  expect(since, why).toBeLessThan(Date.now());
  if (want.lastEvent !== false) expect(a.since, why).toMatch(/, the last event: /);
  if (want.sinceAtMost !== undefined) expect(Date.now() - since, why).toBeLessThan(want.sinceAtMost);
  expect(a['how abnormal'], why).toMatch(want.abnormal);
  expect(a['quietwatch tried'], why).toMatch(want.tried);
  expect(a['what to do'], why).toMatch(/^follow the runbook: https:\/\/runbooks\.example\//);
  // where to look: the check's dashboard, from before the trouble began to now.
  const url = new URL(/(https:\S+)$/.exec(a['where to look'])![1]!);
  expect(url.origin + url.pathname, why).toBe(DASH);
  expect(url.searchParams.get('var-check'), why).toBe(check);
  expect(Number(url.searchParams.get('from')), why).toBeLessThanOrEqual(since - 60_000);
  expect(url.searchParams.get('to'), why).toBe('now');
}

const triggers = (check: string) => pd.events.filter((e) => e.event_action === 'trigger' && (e.payload?.custom_details as { check?: string })?.check === check);
const slackFor = (check: string, tag: RegExp) => slack.topLevel().filter((m) => m.history[0]!.includes(` ${check}: `) && tag.test(m.history[0]!));

async function pageOf(check: string): Promise<{ pd: PdEvent; slack: SlackMessage }> {
  const t = await waitFor(() => triggers(check)[0], 60_000, 100);
  const m = await waitFor(() => slackFor(check, /\[DOWN\]/)[0], 10_000, 100);
  return { pd: t, slack: m };
}

// ---------------------------------------------------------------- the scenarios

describe('every page answers the on-call questions', () => {
  it('quiet -> proven: no page for the probed check; the probe-less check warns, then pages saying nothing could tell quiet from broken', async () => {
    const s = await sandboxService('quiet', true);
    await setMode(s, 'quiet');
    const page = await pageOf('quiet-mastercard');
    const want = {
      broke: /is DOWN: no events are coming out of the pipeline/,
      abnormal: /^silent 8s; no learned normal for this hour \(fixed limits\): quiet after 3s, page after 8s$/,
      tried: /^no probe during this silence/,
      sinceAtMost: 15_000,
    };
    assertAnswers(pdAnswers(page.pd), 'quiet-mastercard', want, 'PagerDuty');
    assertAnswers(slackAnswers(page.slack), 'quiet-mastercard', want, 'Slack');
    // The quiet warning before it answers too (and says nobody is paged for it alone).
    const warn = await waitFor(() => slackFor('quiet-mastercard', /WARNING \(quiet\)/)[0], 5_000);
    assertAnswers(slackAnswers(warn), 'quiet-mastercard', { broke: /a warning: nobody is paged/, abnormal: /^silent 3s/, tried: /this check has no probe/ }, 'Slack warning');
    // The probed check was proven by its probe: quiet, probe, ok — never paged.
    const visa = (await s.fetch('/v1/checks/quiet-visa')).body;
    expect(visa.probes.some((p: { result: string }) => p.result === 'proven')).toBe(true);
    expect(triggers('quiet-visa')).toEqual([]);
    expect(slackFor('quiet-visa', /DOWN/)).toEqual([]);
  }, 60_000);

  it('broken -> lost: the page names the probe, its acquirer reference, that it was lost, and when', async () => {
    const s = await sandboxService('broken');
    await setMode(s, 'broken');
    const page = await pageOf('broken-visa');
    for (const [where, a] of [['PagerDuty', pdAnswers(page.pd)], ['Slack', slackAnswers(page.slack)]] as const) {
      assertAnswers(a, 'broken-visa', {
        broke: /is DOWN: the pipeline swallowed a test transaction/,
        abnormal: /^silent 6s; no learned normal for this hour \(fixed limits\)/,
        tried: /^probe pr_\S+ \(quiet\); fired \S+Z; LOST: the acquirer accepted the charge, its transaction never came out of the pipeline; acquirer reference sbx_ch_\d+; charge accepted, no event within 3s; settled \d+ms before this message$/,
        sinceAtMost: 15_000,
      }, where);
    }
    // Traffic returns: the same Slack message is edited to RESOLVED, and it answers too.
    await setMode(s, 'healthy');
    await waitFor(() => (/\[RESOLVED\]/.test(page.slack.history.at(-1)!) ? true : undefined), 15_000, 100);
    const r = slackAnswers(page.slack);
    expect(r['what broke']).toMatch(/^broken-visa recovered: events received \(traffic returned\)$/);
    const span = /^down from (\S+Z) to (\S+Z) \((\S+)\); the last event before it (\S+Z)$/.exec(r.since);
    expect(span, r.since).not.toBeNull();
    expect(Date.parse(span![4]!)).toBeLessThan(Date.parse(span![1]!));
    expect(Date.parse(span![1]!)).toBeLessThanOrEqual(Date.parse(span![2]!)); // whole seconds
    expect(r['how abnormal']).toMatch(/^back to normal/);
    expect(r['what to do']).toMatch(/^follow the runbook: /);
    const url = new URL(/(https:\S+)$/.exec(r['where to look'])![1]!);
    expect(Number(url.searchParams.get('from'))).toBeLessThan(Date.parse(span![4]!));
    expect(Number(url.searchParams.get('to'))).toBeGreaterThan(Date.parse(span![2]!)); // a closed range past the recovery
  }, 60_000);

  it('acquirer-down -> refused: the page says the probe was refused about 6 s (pageAfter - quietAfter) before it', async () => {
    const s = await sandboxService('down');
    await setMode(s, 'acquirer-down');
    const page = await pageOf('down-visa');
    for (const [where, a] of [['PagerDuty', pdAnswers(page.pd)], ['Slack', slackAnswers(page.slack)]] as const) {
      assertAnswers(a, 'down-visa', {
        broke: /is DOWN: no events are coming out of the pipeline/,
        abnormal: /^silent 9s; no learned normal for this hour \(fixed limits\): quiet after 3s, page after 9s$/,
        tried: /^probe pr_\S+ \(quiet\); fired \S+Z; REFUSED by the acquirer .*; sandbox acquirer is down: charge refused; settled (5\.\d|6(\.\d)?)s before this message$/,
        sinceAtMost: 15_000,
      }, where);
    }
  }, 60_000);

  it('a learned limit: the page compares the silence with the learned normal at this hour', async () => {
    const l = await learnedService('learned', 12);
    l.spacing.value = 0; // the stream stops dead: the learned page limit decides
    const page = await pageOf('learned');
    for (const [where, a] of [['PagerDuty', pdAnswers(page.pd)], ['Slack', slackAnswers(page.slack)]] as const) {
      assertAnswers(a, 'learned', {
        broke: /is DOWN: no events are coming out of the pipeline/,
        abnormal: /^silent \d+(\.\d)?s where 1 event every \d+ms is normal at this hour \(\d+x the normal gap, learned\)$/,
        tried: /^no probe during this silence/,
        sinceAtMost: 60_000,
      }, where);
    }
  }, 90_000);

  it('a rate drop: the page gives the window count against the learned normal', async () => {
    const r = await learnedService('rate', 11);
    r.spacing.value = 1000; // 90% of the traffic gone, the rest evenly spaced: no silence limit, a rate drop
    const page = await pageOf('rate');
    for (const [where, a] of [['PagerDuty', pdAnswers(page.pd)], ['Slack', slackAnswers(page.slack)]] as const) {
      assertAnswers(a, 'rate', {
        broke: /is DOWN: events fell far below normal \(a partial outage\)/,
        abnormal: /^event rate far below normal: \d+ events, \d+% below normal for this window: \d+\.\d events \(p = [\d.e+-]+\); silent \S+ where 1 event every \d+ms is normal at this hour/,
        tried: /^no probe during this silence/,
        // events still arrive: the last one is at most one spacing (1 s) old, and `since` is
        // printed truncated to the second, so up to 1 s + 1 s + delivery before now
        sinceAtMost: 3_000,
      }, where);
    }
  }, 120_000);
});

/**
 * A service with one learned check (eight days of 10 events a second, saved as the service itself
 * would have), fed evenly spaced events every `spacing.value` ms (0: none) from the start.
 */
async function learnedService(name: string, seed: number): Promise<{ s: Running; spacing: { value: number } }> {
  const dir = tempDir();
  const LEARN = { min: '2s', max: '10m', warmup: '1h', rateDrop: { window: '10s', minDrop: 0.7, falseAlarms: '1/year' } };
  const M = 300_000;
  const until = Math.floor(Date.now() / M) * M;
  const limits = new LearnedLimits(parseLearnConfig(LEARN));
  const rnd = prng(seed);
  const buckets = [];
  // A whole week and a day: every hour of the week has its own history. With three days, on a
  // Saturday or Sunday the hour had none (weekend buckets borrow little from the other days, by
  // design) and the learned limit was ~1 min: the test failed at weekends only.
  for (let t = until - 8 * 86_400_000; t < until; t += M) buckets.push({ start: t, count: poissonCount(3000, rnd), bucketMs: M });
  limits.seed(buckets);
  const db = new BetterSqlite3(join(dir, 'qw.sqlite'));
  await new SqliteLearnStore(db).save(name, limits.toJSON(), until);
  db.close();
  const spacing = { value: 100 };
  let next = Date.now();
  let s: Running | undefined;
  timers.push(
    setInterval(() => {
      const now = Date.now();
      if (spacing.value <= 0) return void (next = now);
      const batch: Array<{ stream: string }> = [];
      for (; next <= now; next += spacing.value) batch.push({ stream: name });
      if (batch.length && s) void s.fetch('/v1/events', { method: 'POST', body: JSON.stringify(batch) }).catch(() => {});
    }, 100),
  );
  s = await startService(
    `store: { path: ${join(dir, 'qw.sqlite')} }
${notifiersYaml()}
checks:
  - name: ${name}
    quietAfter: auto
    pageAfter: auto
    learn: ${JSON.stringify(LEARN)}
    runbook: https://runbooks.example/${name}
    dashboard: "${DASH}?var-check=${name}"
`,
    { dir, env: ENV },
  );
  services.push(s);
  expect((await s.fetch(`/v1/checks/${name}`)).body.limits.source).toBe('learned');
  await waitFor(async () => ((await s!.fetch(`/v1/checks/${name}`)).body.status === 'ok' ? true : undefined), 10_000);
  return { s, spacing };
}
