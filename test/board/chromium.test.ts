/**
 * The status board in real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core):
 * load it with a read token in the URL, watch a check go ok and its counter tick in the browser,
 * then let the check fall silent and see its tile turn red, and its incident appear, without a reload.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATE_COLOURS } from '../../src/board/index.ts';
import { READ, sleep, spec, startBoard, type BoardService } from './harness.ts';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = '/tmp/board.png';
const EVIL = '<img src=x onerror="window.__pwned=1">&amp;"\'';

const rgb = (hex: string) => {
  const n = parseInt(hex.slice(1), 16);
  return `rgb(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255})`;
};

let browser: Browser | undefined;
let s: BoardService | undefined;

beforeAll(async () => {
  // Never skip: a missing browser is a broken test machine, not a passing test.
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; scripts/test.sh does it) to run the status board test`);
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});

afterAll(async () => {
  await browser?.close();
  await s?.close();
});

const tile = (name: string) => `.tile[data-check="${name.replace(/["\\]/g, '\\$&')}"]`;

async function tileInfo(page: Page, name: string) {
  return page.$eval(tile(name), (el) => ({
    state: el.getAttribute('data-state'),
    background: getComputedStyle(el).backgroundColor,
    age: el.querySelector('.age')!.textContent,
    ageS: el.querySelector('.age')!.getAttribute('data-age-s'),
    text: (el as HTMLElement).innerText,
  }));
}

describe('the status board in headless Chromium', () => {
  it('shows a check going ok with a live counter, then turning red with its incident, without a reload', async () => {
    // payments: the check that breaks (quiet after 1 s, down after 2 s). steady: stays ok and ticks.
    s = await startBoard({
      checks: [spec('payments', 1000, 2000), spec('steady', 60_000, 120_000), spec('refunds', 60_000, 120_000), spec(EVIL, 60_000, 120_000)],
      autoIncidents: true,
      board: { heartbeatMs: 1000, pollMs: 1000 },
    });
    const page = await browser!.newPage({ viewport: { width: 1600, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));

    await page.goto(`${s.url}/?token=${READ}`);
    await page.waitForSelector(tile('payments'), { timeout: 5000 });
    expect(await page.getAttribute('body', 'data-conn')).toBe('live');

    // Events arrive: pushed to the open page, the tiles go green with the counter near zero.
    await s.ping('steady');
    await s.ping('payments');
    await page.waitForSelector(`${tile('payments')}[data-state="ok"]`, { timeout: 5000 });
    let p = await tileInfo(page, 'payments');
    expect(p.background).toBe(rgb(STATE_COLOURS.ok));
    expect(Number(p.ageS)).toBeLessThanOrEqual(1);
    expect(p.text).toContain('payments');

    // The steady tile's counter ticks in the browser (no event, no push, no reload).
    const before = await tileInfo(page, 'steady');
    expect(before.state).toBe('ok');
    expect(before.background).toBe(rgb(STATE_COLOURS.ok));
    await sleep(1600);
    const after = await tileInfo(page, 'steady');
    expect(after.age).not.toBe(before.age);
    expect(Number(after.ageS)).toBeGreaterThan(Number(before.ageS));
    expect(after.age).toMatch(/^\d+ s$/);

    // payments got no event since: quiet (amber), then down (red) with its incident listed.
    await page.waitForSelector(`${tile('payments')}[data-state="down"]`, { timeout: 5000 });
    p = await tileInfo(page, 'payments');
    expect(p.background).toBe(rgb(STATE_COLOURS.down));
    expect(p.text).toMatch(/DOWN/);
    expect(Number(p.ageS)).toBeGreaterThanOrEqual(2);
    await page.waitForSelector('#inc-list .inc[data-check="payments"]', { timeout: 5000 });
    const inc = await page.$eval('#inc-list .inc[data-check="payments"]', (el) => (el as HTMLElement).innerText);
    expect(inc).toContain('payments');
    expect(inc).toMatch(/opened \d+ s ago/);
    expect(await page.title()).toMatch(/1 DOWN/);
    await page.waitForFunction(() => /incident open/.test(document.querySelector('.tile[data-check="payments"] .detail')?.textContent ?? ''), undefined, { timeout: 3000 });

    // Strings are text, never markup: the odd check name shows as typed and runs nothing.
    const evil = await page.$eval(tile(EVIL), (el) => ({ name: el.querySelector('.name')!.textContent, imgs: el.querySelectorAll('img').length }));
    expect(evil).toEqual({ name: EVIL, imgs: 0 });
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();

    // It really was pushed: one page load, one stream, nothing from anywhere else, no CSP violation.
    const navigations = requests.filter((u) => new URL(u).pathname === '/');
    expect(navigations).toHaveLength(1);
    const streams = requests.filter((u) => new URL(u).pathname === '/v1/board/stream');
    expect(streams).toHaveLength(1);
    expect(new URL(streams[0]!).searchParams.get('token')).toBe(READ);
    expect(requests.every((u) => u.startsWith(s!.url))).toBe(true);
    expect(problems).toEqual([]);

    // Recovery turns it green again and clears the incident, still without a reload.
    await s.ping('payments');
    await page.waitForSelector(`${tile('payments')}[data-state="ok"]`, { timeout: 3000 });
    await page.waitForFunction(() => !document.querySelector('#inc-list .inc[data-check="payments"]'), undefined, { timeout: 5000 });
    expect((await tileInfo(page, 'payments')).background).toBe(rgb(STATE_COLOURS.ok));

    // Break it again for the screenshot: a red tile and its open incident, as the office sees it.
    await page.waitForSelector(`${tile('payments')}[data-state="down"]`, { timeout: 5000 });
    await page.waitForSelector('#inc-list .inc[data-check="payments"]', { timeout: 5000 });
    await s.ping('steady');
    await sleep(1200);
    await page.screenshot({ path: SCREENSHOT });
    await page.close();
  });

  it('shows which replica leads in the header, and follows a takeover without a reload', async () => {
    let replica: { self: string; role: 'leader' | 'follower'; leader: string | null } = { self: 'qw-b:7:bbbb', role: 'follower', leader: 'qw-a:5:aaaa' };
    const b = await startBoard({ checks: [spec('c1', 60_000, 120_000)], board: { pollMs: 100, replica: () => replica } });
    const page = await browser!.newPage({ viewport: { width: 1280, height: 720 } });
    const header = () => page.$eval('#replica', (el) => ({ hidden: (el as HTMLElement).hidden, text: el.textContent, leader: el.getAttribute('data-leader'), role: el.getAttribute('data-role') }));
    try {
      await page.goto(`${b.url}/?token=${READ}`);
      await page.waitForSelector('#replica:not([hidden])', { timeout: 5000 });
      expect(await header()).toEqual({ hidden: false, text: 'leader qw-a:5:aaaa \u00b7 this replica follows', leader: 'other', role: 'follower' });
      replica = { ...replica, leader: null };
      await page.waitForSelector('#replica[data-leader="none"]', { timeout: 3000 });
      expect((await header()).text).toMatch(/no leader/);
      replica = { self: 'qw-b:7:bbbb', role: 'leader', leader: 'qw-b:7:bbbb' };
      await page.waitForSelector('#replica[data-leader="self"]', { timeout: 3000 });
      expect(await header()).toEqual({ hidden: false, text: 'leader qw-b:7:bbbb (this replica)', leader: 'self', role: 'leader' });
    } finally {
      await page.close();
      await b.close();
    }
  });

  it('has no replica line with one process', async () => {
    const b = await startBoard({ checks: [spec('c1', 60_000, 120_000)] });
    const page = await browser!.newPage({ viewport: { width: 1280, height: 720 } });
    try {
      await page.goto(`${b.url}/?token=${READ}`);
      await page.waitForSelector('.tile[data-check="c1"]', { timeout: 5000 });
      expect(await page.$eval('#replica', (el) => (el as HTMLElement).hidden)).toBe(true);
    } finally {
      await page.close();
      await b.close();
    }
  });

  it('says so when the server goes away: the board is marked stale instead of showing old colours as live', async () => {
    const b = await startBoard({ checks: [spec('c1', 60_000, 120_000)] });
    const page = await browser!.newPage({ viewport: { width: 1280, height: 720 } });
    try {
      await b.ping('c1');
      await page.goto(`${b.url}/?token=${READ}`);
      await page.waitForSelector('.tile[data-check="c1"][data-state="ok"]', { timeout: 5000 });
      expect(await page.getAttribute('body', 'data-conn')).toBe('live');
      await b.close();
      await page.waitForSelector('body[data-conn="reconnecting"]', { timeout: 5000 });
      await page.waitForSelector('#banner:not([hidden])', { timeout: 2000 });
      // The colours fade so nobody reads a frozen board as live.
      expect(await page.$eval('.tile[data-check="c1"]', (el) => getComputedStyle(el).filter)).toMatch(/saturate/);
      const banner = await page.$eval('#banner', (el) => ({ hidden: (el as HTMLElement).hidden, text: el.textContent }));
      expect(banner.hidden).toBe(false);
      expect(banner.text).toMatch(/out of date/);
    } finally {
      await page.close();
    }
  });
});
