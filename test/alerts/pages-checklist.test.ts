/**
 * The on-call answers, pure: the engine carries the last probe attempt into its alert details, the
 * formatter turns details into the six answers, the payload builders put them where PagerDuty and
 * Slack show them, and `unroutedChecks` finds the checks whose pages reach nobody.
 */
import { describe, expect, it } from 'vitest';
import { initialState, step } from '../../src/checks/engine.ts';
import type { CheckSpec, CheckState, Effect } from '../../src/checks/types.ts';
import { alertsConfigSchema } from '../../src/alerts/config.ts';
import { dashboardLink, detailLines, incidentRange, onCallAnswers } from '../../src/alerts/format.ts';
import { normaliseDetails } from '../../src/alerts/manager.ts';
import { buildPagerDutyEvent } from '../../src/alerts/pagerduty/payload.ts';
import { buildSlackMessage } from '../../src/alerts/slack/payload.ts';
import type { Notification } from '../../src/alerts/types.ts';
import { routingDetail, unroutedChecks } from '../../src/alerts/unrouted.ts';

const T0 = Date.UTC(2026, 11, 2, 1, 0, 0);
const spec: CheckSpec = {
  name: 'visa',
  stream: 'card-auth',
  match: {},
  quietAfterMs: 15_000,
  pageAfterMs: 45_000,
  labels: {},
  probe: { timeoutMs: 15_000, backoffFactor: 2, backoffMaxMs: 60_000 },
};

function run(inputs: Array<[number, Parameters<typeof step>[2]]>): { state: CheckState; effects: Effect[] } {
  let state = initialState(T0);
  const effects: Effect[] = [];
  let n = 0;
  for (const [at, input] of inputs) {
    const r = step(spec, state, input, { now: at, newProbeId: () => `pr_${++n}` });
    state = r.state;
    effects.push(...r.effects);
  }
  return { state, effects };
}

/** The notification the alert manager would make of the engine's `down` alert. */
function pageFrom(effects: Effect[], extra: Record<string, unknown> = {}): Notification {
  const a = effects.find((e): e is Extract<Effect, { type: 'alert' }> => e.type === 'alert' && e.kind === 'down')!;
  return {
    id: 'n1',
    incidentId: 'inc_1',
    dedupKey: 'quietwatch/visa/1',
    action: 'trigger',
    severity: 'critical',
    check: 'visa',
    labels: { team: 'payments' },
    summary: a.reason,
    createdAt: a.at,
    details: normaliseDetails(a.reason, 'down', { ...a.details, runbookUrl: 'https://rb.example/visa', dashboardUrl: 'https://grafana.example/d/qw?var-check=visa', ...extra } as never),
  };
}

describe('the engine carries what quietwatch tried', () => {
  it('acquirer down: the page at pageAfter names the probe refused 30 s before, with its message', () => {
    const { effects } = run([
      [T0 + 1000, { kind: 'event', at: T0 + 1000, time: T0 + 1000 }],
      [T0 + 16_000, { kind: 'tick' }], // quiet: pr_1 fires
      [T0 + 16_050, { kind: 'probe-result', probeId: 'pr_1', result: 'refused', message: 'card declined (do_not_honor)' }],
      [T0 + 46_000, { kind: 'tick' }], // page
    ]);
    const n = pageFrom(effects);
    expect(n.details.probe).toEqual({ id: 'pr_1', result: 'refused', firedAt: T0 + 16_000, settledAt: T0 + 16_050, message: 'card declined (do_not_honor)', reason: 'quiet' });
    const a = onCallAnswers(n);
    expect(a.tried).toBe(
      'probe pr_1 (quiet); fired 2026-12-02T01:00:16Z; REFUSED by the acquirer (the probe card or the acquirer may be broken): it could not tell quiet from broken; card declined (do_not_honor); settled 29.9s before this message',
    );
    expect(a.since).toBe('2026-12-02T01:00:01Z, the last event: 45s before this message');
    expect(a.howAbnormal).toBe('silent 45s; no learned normal for this hour (fixed limits): quiet after 15s, page after 45s');
    expect(a.whatToDo).toBe('follow the runbook: https://rb.example/visa');
    expect(a.whereToLook).toBe(`dashboard for the incident's time range: https://grafana.example/d/qw?var-check=visa&from=${T0 + 1000 - 30 * 60_000}&to=now`);
  });

  it('broken: the lost probe keeps its reference and its deadline', () => {
    const { effects, state } = run([
      [T0 + 1000, { kind: 'event', at: T0 + 1000, time: T0 + 1000 }],
      [T0 + 16_000, { kind: 'tick' }],
      [T0 + 16_200, { kind: 'probe-result', probeId: 'pr_1', result: 'accepted', reference: 'ch_9' }],
      [T0 + 31_000, { kind: 'tick' }], // probe deadline: lost -> down
    ]);
    expect(state.lastProbe).toMatchObject({ id: 'pr_1', result: 'lost', reference: 'ch_9', settledAt: T0 + 31_000 });
    const a = onCallAnswers(pageFrom(effects));
    expect(a.whatBroke).toBe('visa is DOWN: the pipeline swallowed a test transaction (charge accepted, nothing came out)');
    expect(a.tried).toMatch(/^probe pr_1 \(quiet\); fired 2026-12-02T01:00:16Z; LOST: .*; acquirer reference ch_9; charge accepted, no event within 15s; settled 0ms before this message$/);
  });

  it('a probe from an earlier silence is not this silence\'s attempt', () => {
    const { effects } = run([
      [T0 + 1000, { kind: 'event', at: T0 + 1000, time: T0 + 1000 }],
      [T0 + 16_000, { kind: 'tick' }],
      [T0 + 16_050, { kind: 'probe-result', probeId: 'pr_1', result: 'refused' }],
      [T0 + 20_000, { kind: 'event', at: T0 + 20_000, time: T0 + 20_000 }], // traffic: a new silence from here
      [T0 + 35_000, { kind: 'tick' }], // quiet again: pr_2, then
      [T0 + 35_010, { kind: 'probe-result', probeId: 'pr_2', result: 'error', message: 'HTTP 503' }],
      [T0 + 200_000, { kind: 'tick' }],
    ]);
    const p = pageFrom(effects).details.probe!;
    expect(p).toMatchObject({ id: 'pr_2', result: 'error', message: 'HTTP 503' });
  });

  it('learned normal: the page says how many times the normal gap the silence is', () => {
    const n = pageFrom(run([[T0 + 1000, { kind: 'event', at: T0 + 1000, time: T0 + 1000 }], [T0 + 46_000, { kind: 'tick' }]]).effects);
    n.details.extra = { ...n.details.extra, limits: { quietAfterMs: 15_000, pageAfterMs: 45_000, expectedGapMs: 800, source: 'learned' } };
    n.details.probe = undefined;
    expect(onCallAnswers(n).howAbnormal).toBe('silent 45s where 1 event every 800ms is normal at this hour (56x the normal gap, learned)');
  });
});

describe('the answers in Slack and PagerDuty', () => {
  const n = pageFrom(
    run([
      [T0 + 1000, { kind: 'event', at: T0 + 1000, time: T0 + 1000 }],
      [T0 + 16_000, { kind: 'tick' }],
      [T0 + 16_050, { kind: 'probe-result', probeId: 'pr_1', result: 'refused' }],
      [T0 + 46_000, { kind: 'tick' }],
    ]).effects,
  );

  it('Slack: six labelled lines first, in order', () => {
    const text = (buildSlackMessage(n).blocks[0] as { text: { text: string } }).text.text;
    const labels = text.split('\n').slice(1, 7).map((l) => l.replace(/^• /, '').split(':')[0]);
    expect(labels).toEqual(['what broke', 'since', 'how abnormal', 'quietwatch tried', 'what to do', 'where to look']);
    expect(detailLines(n)).toContain('state: down');
  });

  it('PagerDuty: the answers lead the custom details, and the dashboard link has the range', () => {
    const ev = buildPagerDutyEvent(n, 'R0123456789abcdef0123456789abcde', { source: 'qw' })!;
    const keys = Object.keys(ev.payload!.custom_details);
    expect(keys.slice(0, 6)).toEqual(['what_broke', 'since', 'how_abnormal', 'quietwatch_tried', 'what_to_do', 'where_to_look']);
    expect(ev.links).toContainEqual({ href: `https://grafana.example/d/qw?var-check=visa&from=${T0 + 1000 - 1_800_000}&to=now`, text: "Dashboard (the incident's time range)" });
  });

  it('dashboard ranges: kept parameters, a closed range after a resolve, a bad URL left alone', () => {
    expect(dashboardLink('https://g.example/d/x?var-check=a&from=1', 10, 'now')).toBe('https://g.example/d/x?var-check=a&from=10&to=now');
    expect(dashboardLink('not a url', 1, 2)).toBe('not a url');
    const resolve: Notification = { ...n, action: 'resolve', createdAt: T0 + 100_000, details: { ...n.details, extra: { downSince: T0 + 46_000, silentSince: T0 + 1000, resolvedAt: T0 + 90_000 } } };
    expect(incidentRange(resolve)).toEqual({ from: T0 + 1000 - 1_800_000, to: T0 + 90_000 + 600_000 });
    expect(onCallAnswers(resolve).since).toBe('down from 2026-12-02T01:00:46Z to 2026-12-02T01:01:30Z (44s); the last event before it 2026-12-02T01:00:01Z');
  });
});

describe('unroutedChecks', () => {
  const alerts = (routes: unknown) =>
    alertsConfigSchema.parse({
      notifiers: {
        pager: { type: 'pagerduty', routingKey: 'R0123456789abcdef0123456789abcde' },
        team: { type: 'slack-webhook', url: 'https://hooks.slack.com/services/T000/B000/XXXX' },
      },
      routes,
    });
  const checks: Array<{ name: string; labels: Record<string, string> }> = [
    { name: 'cards', labels: { team: 'payments' } },
    { name: 'settlement', labels: { team: 'finance' } },
    { name: 'refunds', labels: {} },
  ];

  it.each([
    ['no routes at all: every check', { default: { warning: [], page: [] } }, ['cards:pages+warnings', 'settlement:pages+warnings', 'refunds:pages+warnings']],
    ['a default page route: nobody', { default: { warning: ['team'], page: ['pager'] } }, []],
    [
      'an override that empties pages for one team',
      { default: { warning: ['team'], page: ['pager'] }, overrides: [{ match: { labels: { team: 'finance' } }, page: [] }] },
      ['settlement:pages'],
    ],
    ['pages but no warnings', { default: { page: ['pager'] } }, ['cards:warnings', 'settlement:warnings', 'refunds:warnings']],
  ])('%s', (_what, routes, want) => {
    const got = unroutedChecks({ checks, alerts: alerts(routes) }).map((u) => `${u.check}:${[u.pages && 'pages', u.warnings && 'warnings'].filter(Boolean).join('+')}`);
    expect(got).toEqual(want);
  });

  it('says it the way start-up, validate and /readyz print it', () => {
    const [u] = unroutedChecks({ checks: [checks[0]!], alerts: alerts({ default: { warning: [], page: [] } }) });
    expect(u!.message).toBe('pages for cards reach nobody: no notifier is routed its pages or warnings (alerts.routes); they are only logged');
    // Names that are not notifiers reach nobody either (a hand-built config).
    const hand = unroutedChecks({ checks: [checks[0]!], alerts: { notifiers: {}, routes: { default: { warning: ['ghost'], page: ['ghost'] }, overrides: [] } } });
    expect(hand.map((x) => x.pages)).toEqual([true]);
  });
});

describe('quietwatch validate', () => {
  it('warns (exit 0) for each check whose pages reach nobody, and says nothing when they are routed', async () => {
    const { spawnSync } = await import('node:child_process');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'qw-validate-'));
    const bin = new URL('../../bin/quietwatch.js', import.meta.url).pathname;
    const run = (yaml: string) => {
      const f = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
      writeFileSync(f, yaml);
      return spawnSync(process.execPath, [bin, 'validate', '--config', f], { encoding: 'utf8', timeout: 60_000 });
    };
    const bare = run('checks:\n  - { name: cards, quietAfter: 30s, pageAfter: 2m }\n');
    expect(bare.status).toBe(0);
    expect(bare.stdout).toMatch(/ok \(1 checks: cards\)/);
    expect(bare.stderr).toBe('warning: pages for cards reach nobody: no notifier is routed its pages or warnings (alerts.routes); they are only logged\n');
    const routed = run(`alerts:
  notifiers: { team: { type: slack-webhook, url: "https://hooks.slack.com/services/T000/B000/XXXX" } }
  routes: { default: { warning: [team], page: [team] } }
checks:
  - { name: cards, quietAfter: 30s, pageAfter: 2m }
`);
    expect(routed.status).toBe(0);
    expect(routed.stderr).toBe('');
  }, 60_000);
});

describe('routingDetail', () => {
  it('lists the first 20 unrouted checks and counts the rest', () => {
    const many = Array.from({ length: 25 }, (_, i) => ({ check: `c${i}`, pages: true, warnings: true, message: `pages for c${i} reach nobody` }));
    const d = routingDetail(many);
    expect(d).toHaveLength(21);
    expect(d[19]).toBe('pages for c19 reach nobody');
    expect(d[20]).toBe('and 5 more checks whose pages reach nobody');
    expect(routingDetail(many.slice(0, 3))).toEqual(['pages for c0 reach nobody', 'pages for c1 reach nobody', 'pages for c2 reach nobody']);
  });
});
