/**
 * The board on office screens, in real headless Chromium: 14 checks with six hours of history on a
 * 1080p and a 4K screen. Each tile has a 6-hour state strip and an event-rate sparkline against the
 * learned normal; the text stays readable at 1080p and scales at 4K; nothing overflows its tile; and
 * an open board (`board.public: true`) shows no probe ids, charge references or amounts.
 * Screenshots: /tmp/board-1080p.png, /tmp/board-4k.png, and with the longest texts a tile shows
 * (an age of hours, QUIET · PROBING) /tmp/board-1080p-longest.png, /tmp/board-4k-longest.png.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HISTORY_WINDOW_MS, RATE_BUCKET_MS } from '../../src/board/index.ts';
import type { CheckSpec, LimitModel } from '../../src/checks/types.ts';
import { sleep, spec, startBoard, type BoardService } from './harness.ts';

const CHROMIUM = '/usr/bin/chromium';
let browser: Browser | undefined;
let s: BoardService | undefined;

/** Expected events per minute over the day: a day/night shape. */
const perMinute = (base: number) => (at: number) => {
  const h = new Date(at).getUTCHours() + new Date(at).getUTCMinutes() / 60;
  return base * (0.55 + 0.45 * Math.sin(((h - 9) / 24) * 2 * Math.PI));
};

/** A learned-style limit model with a fixed silence limit and a time-of-day normal. */
function learned(name: string, quietMs: number, pageMs: number, base: number): CheckSpec {
  const rate = perMinute(base);
  const limits: LimitModel = {
    deadline: (since, which) => since + (which === 'quiet' ? quietMs : pageMs),
    describe: (at) => ({ quietAfterMs: quietMs, pageAfterMs: pageMs, expectedPerMinute: rate(at), expectedGapMs: 60_000 / rate(at), source: 'learned' }),
  };
  return { ...spec(name, quietMs, pageMs), limits };
}

const NAMES = [
  'card-auth-visa',
  'card-auth-mastercard',
  'card-auth-amex',
  'card-capture',
  'refunds',
  'chargebacks',
  'payouts-gbp',
  'payouts-eur',
  'bacs-submission',
  'faster-payments-in',
  'faster-payments-out',
  'fraud-scores',
  'settlement-file',
  'ledger-postings',
];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
  const checks = NAMES.map((n, i) =>
    n === 'refunds' ? spec(n, 1000, 2000) : n === 'chargebacks' ? spec(n, 1500, 600_000) : learned(n, 60_000, 180_000, 40 + i * 35),
  );
  s = await startBoard({ checks, public: true, board: { heartbeatMs: 1000, pollMs: 1000, historyMs: 1000 } });

  // Six hours of history, as a restart would read it back from the stored flips and as ingest counted it.
  const now = Date.now();
  const start = now - HISTORY_WINDOW_MS;
  const h = s.plugin.history;
  const at = (hoursAgo: number) => now - hoursAgo * 3600_000;
  const flips: Record<string, Array<{ at: number; from: string; to: string }>> = {
    'card-auth-visa': [
      { at: at(7), from: 'unknown', to: 'ok' },
      { at: at(4.2), from: 'ok', to: 'quiet' },
      { at: at(4.19), from: 'quiet', to: 'ok' },
      { at: at(2.5), from: 'ok', to: 'down' },
      { at: at(2.0), from: 'down', to: 'ok' },
    ],
    refunds: [{ at: at(6.5), from: 'unknown', to: 'ok' }, { at: at(1), from: 'ok', to: 'quiet' }, { at: at(0.9), from: 'quiet', to: 'ok' }],
    'payouts-eur': [{ at: at(8), from: 'unknown', to: 'ok' }, { at: at(3), from: 'ok', to: 'paused' }, { at: at(2), from: 'paused', to: 'ok' }],
  };
  for (const n of NAMES) h.load(n, (flips[n] ?? [{ at: at(9), from: 'unknown', to: 'ok' }]) as never);
  NAMES.forEach((n, i) => {
    if (n === 'refunds' || n === 'chargebacks') return;
    const rate = perMinute(40 + i * 35);
    for (let t = Math.floor(start / RATE_BUCKET_MS) * RATE_BUCKET_MS; t < now - RATE_BUCKET_MS; t += RATE_BUCKET_MS) {
      const down = n === 'card-auth-visa' && t >= at(2.5) && t < at(2.0);
      const partial = n === 'card-auth-mastercard' && t >= at(1.5) && t < at(1.2);
      const noise = 1 + 0.12 * Math.sin(t / 600_000 + i);
      h.recordCount(n, t + 1000, down ? 0 : Math.round(rate(t) * noise * (partial ? 0.3 : 1)));
    }
  });
  // Live traffic: every check gets events now; refunds then falls silent and goes down.
  for (const n of NAMES) await s.ping(n);
  // Incidents as the alert manager words them for on-call: ids, references and amounts in them.
  s.incidents.push({
    id: 'inc_7',
    check: 'refunds',
    openedAt: now - 5_000,
    summary: 'refunds: probe pr_0f5e7a6c-1111-4222-8333-944445555666 lost: charge accepted (ref sbx_ch_2), 100 gbp, no event within 15s; silent 30s',
  });
});

afterAll(async () => {
  await browser?.close();
  await s?.close();
});

/**
 * Text cut anywhere in `root` (a tile, an incident row): every element with text of its own must
 * show all of it. Cut horizontally (an ellipsis, or text wider than its box), cut vertically (a
 * clamped line), or laid out past the edge of a box that clips it (a flex item pushed out of its
 * row). Installed in the page as window.__textCuts by open() (the page's CSP allows no eval).
 */
const TEXT_CUTS = `(root) => {
  const cuts = [];
  const els = [root, ...root.querySelectorAll('*')].filter((e) => e instanceof HTMLElement);
  for (const e of els) {
    const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || e.getClientRects().length === 0) continue;
    const what = (e.className || e.tagName.toLowerCase()) + ' "' + e.textContent.trim().slice(0, 40) + '"';
    const cs = getComputedStyle(e);
    const block = cs.display !== 'inline';
    if (block && e.scrollWidth > e.clientWidth + 1) cuts.push(what + ': ' + e.scrollWidth + 'px wide in ' + e.clientWidth + 'px' + (cs.textOverflow === 'ellipsis' ? ' (ellipsis)' : ''));
    if (block && e.scrollHeight > e.clientHeight + 1) cuts.push(what + ': ' + e.scrollHeight + 'px tall in ' + e.clientHeight + 'px');
    const range = document.createRange();
    range.selectNodeContents(e);
    const t = range.getBoundingClientRect();
    for (let a = e; a; a = a === root ? null : a.parentElement) {
      const as = getComputedStyle(a);
      if (as.overflowX === 'visible' && as.overflowY === 'visible') continue;
      const r = a.getBoundingClientRect();
      // (a line-height under ~1.2 lets the font's ascent and descent, not its glyphs, pass the line box a little)
      const dy = Math.max(1, 0.1 * parseFloat(cs.fontSize));
      if (t.left < r.left - 1 || t.right > r.right + 1 || t.top < r.top - dy || t.bottom > r.bottom + dy) {
        cuts.push(what + ': outside ' + (a.className || a.tagName.toLowerCase()) + ' by ' + Math.round(Math.max(r.left - t.left, t.right - r.right, r.top - t.top, t.bottom - r.bottom)) + 'px');
        break;
      }
    }
  }
  return cuts;
}`;

const CUTS_FN = '__textCuts';

async function incidentCuts(page: Page) {
  return page.$$eval(
    '#inc-list .inc',
    (rows, fn) => {
      const cuts = (window as unknown as Record<string, (root: Element) => string[]>)[fn]!;
      return rows.map((r) => ({ check: r.getAttribute('data-check'), text: (r as HTMLElement).innerText, h: r.getBoundingClientRect().height, cuts: cuts(r) }));
    },
    CUTS_FN,
  );
}

/** The tiles with the longest texts they show: an age in hours, a state word with PROBING. */
async function measureLongest(page: Page, screenshot: string) {
  const m = await page.$$eval(
    '.tile',
    (tiles, fn) => {
      const cuts = (window as unknown as Record<string, (root: Element) => string[]>)[fn]!;
      // Synchronous, and the page's timers stopped (it is closed after this): its own tick (every
      // 250 ms) does not put the real texts back before the measurement and the screenshot.
      for (let id = window.setInterval(() => undefined, 1000); id > 0; id--) window.clearInterval(id);
      for (const t of tiles) {
        t.querySelector('.age')!.innerHTML = '23<span class="u"> h </span>59<span class="u"> m</span>'; // as the page sets it
        t.querySelector('.age')!.setAttribute('data-long', '');
        t.querySelector('.state')!.textContent = 'QUIET\u00a0\u00b7 PROBING';
        t.querySelector('.detail')!.textContent = 'quiet for 23 h 59 m \u00b7 lag 2 m 05 s \u00b7 pages at 1 h 30 m silent \u00b7 incident open';
      }
      return tiles.map((t) => {
        const rows = ['.top', '.agerow', '.spark', '.sparklabel', '.strip', '.stripaxis', '.detail'].map((sel) => [sel, t.querySelector(sel)!.getBoundingClientRect()] as const);
        return {
          name: t.getAttribute('data-check'),
          agePx: parseFloat(getComputedStyle(t.querySelector('.age')!).fontSize),
          cuts: cuts(t),
          // no row drawn over the next (a squeezed history would put its strip under the detail text)
          overlaps: rows.filter(([, r], i) => i > 0 && r.height > 0 && r.top < rows[i - 1]![1].bottom - 0.5).map(([sel]) => sel),
          overflowY: rows.at(-1)![1].bottom - t.getBoundingClientRect().bottom,
        };
      });
    },
    CUTS_FN,
  );
  await page.screenshot({ path: screenshot });
  return m;
}

async function measure(page: Page) {
  return page.$$eval('.tile', (tiles, fn) =>
    tiles.map((el) => {
      const textCuts = (window as unknown as Record<string, (root: Element) => string[]>)[fn]!;
      const q = (sel: string) => el.querySelector(sel) as HTMLElement | SVGElement | null;
      const px = (sel: string) => parseFloat(getComputedStyle(q(sel)!).fontSize);
      const box = (el as HTMLElement).getBoundingClientRect();
      const rect = (sel: string) => q(sel)!.getBoundingClientRect();
      return {
        name: el.getAttribute('data-check'),
        state: el.getAttribute('data-state'),
        w: box.width,
        h: box.height,
        namePx: px('.name'),
        agePx: px('.age'),
        detailPx: px('.detail'),
        labelPx: px('.agelabel'),
        sparkLabelPx: px('.sparklabel'),
        axisPx: px('.stripaxis'),
        stripH: rect('.strip').height,
        sparkH: (q('.spark') as SVGElement).hasAttribute('hidden') ? 0 : rect('.spark').height,
        // Everything inside the tile: the last line's bottom within the tile's box...
        overflowY: rect('.detail').bottom - box.bottom,
        // ...no row overlapping the next (a shrunk row would draw its text over its neighbour)...
        overlaps: ['.top', '.agerow', '.hist', '.detail']
          .map((sel) => q(sel)!.getBoundingClientRect())
          .reduce((n, r, i, all) => n + (i > 0 && r.top < all[i - 1]!.bottom - 0.5 ? 1 : 0), 0),
        // ...and no text clipped vertically inside its row.
        clipped: ['.name', '.state', '.age', '.agelabel', '.sparklabel', '.detail', '.stripaxis']
          .filter((sel) => {
            const e = q(sel) as HTMLElement;
            return e.offsetParent !== null && e.scrollHeight > e.clientHeight + 1;
          }),
        nameCut: (q('.name') as HTMLElement).scrollWidth > (q('.name') as HTMLElement).clientWidth + 1,
        // ...and no text cut at all, in any direction, on any element of the tile.
        cuts: textCuts(el),
        rects: [...el.querySelectorAll('.strip rect')].map((r) => ({ s: r.getAttribute('data-s'), w: Number(r.getAttribute('width')) })),
        downMs: Number(el.querySelector('.strip')!.getAttribute('data-down-ms')),
        sparkD: el.querySelector('.spark .count')!.getAttribute('d') ?? '',
        normalD: el.querySelector('.spark .normal')!.getAttribute('d') ?? '',
        sparkText: (q('.sparklabel') as HTMLElement).innerText,
        detail: (q('.detail') as HTMLElement).innerText,
      };
    }),
    CUTS_FN,
  );
}

async function open(width: number, height: number): Promise<Page> {
  const page = await browser!.newPage({ viewport: { width, height }, deviceScaleFactor: 1 });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
  await page.goto(`${s!.url}/`); // public: no token
  await page.waitForSelector('.tile[data-check="ledger-postings"][data-state="ok"]', { timeout: 5000 });
  await page.waitForSelector('.tile[data-check="refunds"][data-state="down"]', { timeout: 8000 });
  await page.waitForSelector('#inc-list .inc[data-check="refunds"]', { timeout: 5000 });
  await page.waitForFunction(() => document.querySelectorAll('.tile[data-check="card-auth-visa"] .strip rect').length > 3, undefined, { timeout: 5000 });
  await sleep(600);
  await page.evaluate(`window.${CUTS_FN} = ${TEXT_CUTS}`);
  expect(problems).toEqual([]);
  return page;
}

describe('the board on office screens', () => {
  let m1080: Awaited<ReturnType<typeof measure>>;

  it('1080p, 14 checks: strips and sparklines on every tile, text readable, nothing spills out of its tile', async () => {
    const page = await open(1920, 1080);
    m1080 = await measure(page);
    await page.screenshot({ path: '/tmp/board-1080p.png' });
    expect(m1080).toHaveLength(14);
    for (const t of m1080) {
      const why = JSON.stringify(t).slice(0, 400);
      expect(t.detailPx, why).toBeGreaterThanOrEqual(18);
      expect(t.labelPx, why).toBeGreaterThanOrEqual(18);
      expect(t.namePx, why).toBeGreaterThanOrEqual(24);
      expect(t.agePx, why).toBeGreaterThanOrEqual(48);
      expect(t.axisPx, why).toBeGreaterThanOrEqual(12);
      expect(t.stripH, why).toBeGreaterThanOrEqual(10);
      expect(t.overflowY, why).toBeLessThanOrEqual(1);
      expect(t.overlaps, why).toBe(0);
      expect(t.clipped, why).toEqual([]);
      expect(t.nameCut, why).toBe(false);
      expect(t.cuts, why).toEqual([]);
      expect(t.rects.length, why).toBeGreaterThanOrEqual(1);
    }
    // The label under the age reads whole on every tile (it was "since the last …" on red and amber tiles).
    expect(await page.$$eval('.tile .agelabel', (ls) => [...new Set(ls.map((l) => (l as HTMLElement).innerText.replace(/\s+/g, ' ')))])).toEqual(['since the last event']);
    // The incident row shows its whole summary (it ended "…; sile…").
    const incs = await incidentCuts(page);
    expect(incs).toHaveLength(1);
    expect(incs[0]!.cuts, JSON.stringify(incs[0])).toEqual([]);
    expect(incs[0]!.text).toContain('no event within 15s; silent 30s');
    // The longest texts a tile shows still fit: a day-long age, QUIET · PROBING.
    for (const t of await measureLongest(page, '/tmp/board-1080p-longest.png')) {
      expect(t.cuts, JSON.stringify(t)).toEqual([]);
      expect(t.overlaps, JSON.stringify(t)).toEqual([]);
      expect(t.overflowY, JSON.stringify(t)).toBeLessThanOrEqual(1);
      expect(t.agePx, JSON.stringify(t)).toBeGreaterThanOrEqual(36);
    }
    const visa = m1080.find((t) => t.name === 'card-auth-visa')!;
    // ok, a short quiet blip, 30 min down, ok, and the restart's unknown -> ok just now.
    expect(visa.rects.map((r) => r.s)).toEqual(expect.arrayContaining(['ok', 'quiet', 'down']));
    expect(visa.downMs).toBeGreaterThan(29 * 60_000);
    expect(visa.downMs).toBeLessThan(31 * 60_000);
    const down = visa.rects.find((r) => r.s === 'down')!;
    expect(down.w).toBeGreaterThan(1000 / 12 - 2); // half an hour of six: a twelfth of the strip
    expect(down.w).toBeLessThan(1000 / 12 + 2);
    expect(m1080.find((t) => t.name === 'payouts-eur')!.rects.map((r) => r.s)).toContain('paused');
    // Sparklines: the rate against the learned normal, with their numbers.
    expect(visa.sparkH).toBeGreaterThan(20);
    expect(visa.sparkD).toMatch(/^M0,100 L/);
    expect(visa.normalD).toMatch(/^ M/);
    expect(visa.sparkText).toMatch(/^\d+(\.\d)?k?\/min · normal \d+(\.\d)?k?\/min$/);
    // A check with fixed limits and no counts yet: its strip, no normal line.
    const refunds = m1080.find((t) => t.name === 'refunds')!;
    expect(refunds.state).toBe('down');
    expect(refunds.rects.at(-1)!.s).toBe('down');
    await page.close();
  });

  it('4K: the same board scales up (text 1.5-2x the 1080p size), nothing spills out', async () => {
    const page = await open(3840, 2160);
    const m = await measure(page);
    await page.screenshot({ path: '/tmp/board-4k.png' });
    const incs = await incidentCuts(page);
    expect(incs).toHaveLength(1);
    expect(incs[0]!.cuts, JSON.stringify(incs[0])).toEqual([]);
    for (const t of await measureLongest(page, '/tmp/board-4k-longest.png')) {
      expect(t.cuts, JSON.stringify(t)).toEqual([]);
      expect(t.overlaps, JSON.stringify(t)).toEqual([]);
      expect(t.overflowY, JSON.stringify(t)).toBeLessThanOrEqual(1);
      expect(t.agePx, JSON.stringify(t)).toBeGreaterThanOrEqual(72);
    }
    for (const t of m) {
      const small = m1080.find((x) => x.name === t.name)!;
      const why = `${t.name}: 4K ${t.detailPx}px vs 1080p ${small.detailPx}px`;
      // Not exactly 2x: the header and the incident list grow less, so the 4K grid picks its own columns.
      expect(t.detailPx / small.detailPx, why).toBeGreaterThan(1.5);
      expect(t.agePx / small.agePx, why).toBeGreaterThan(1.5);
      expect(t.detailPx, why).toBeGreaterThanOrEqual(28);
      expect(t.overflowY, why).toBeLessThanOrEqual(1);
      expect(t.overlaps, why).toBe(0);
      expect(t.clipped, why).toEqual([]);
      expect(t.nameCut, why).toBe(false);
      expect(t.cuts, why).toEqual([]);
      expect(t.sparkH, why).toBeGreaterThan(t.name === 'refunds' || t.name === 'chargebacks' ? -1 : 40);
    }
    await page.close();
  });

  it('an open board (board.public) shows no probe ids, charge references or amounts', async () => {
    const page = await open(1920, 1080);
    const text = await page.evaluate(() => document.body.innerText);
    const json = await (await fetch(`${s!.url}/v1/board`)).text();
    for (const body of [text, json]) {
      expect(body).not.toMatch(/pr_[0-9a-f]/);
      expect(body).not.toMatch(/sbx_ch_|\bch_\d/);
      expect(body).not.toMatch(/\b100 gbp\b/i);
    }
    const inc = await page.$eval('#inc-list .inc[data-check="refunds"] .summary', (e) => e.textContent);
    expect(inc).toBe('refunds: probe lost: charge accepted, an amount, no event within 15s; silent 30s');
    await page.close();
  });

  it('sends the strips again as time passes, and a flip extends the strip at once', async () => {
    const page = await open(1920, 1080);
    const last = () => page.$$eval('.tile[data-check="chargebacks"] .strip rect', (rs) => rs.at(-1)?.getAttribute('data-s'));
    await s!.ping('chargebacks');
    await page.waitForFunction(() => [...document.querySelectorAll('.tile[data-check="chargebacks"] .strip rect')].at(-1)?.getAttribute('data-s') === 'ok', undefined, { timeout: 3000 });
    expect(await last()).toBe('ok');
    // chargebacks goes quiet after 1.5 s without events: the strip ends in a quiet band.
    await page.waitForFunction(() => [...document.querySelectorAll('.tile[data-check="chargebacks"] .strip rect')].at(-1)?.getAttribute('data-s') === 'quiet', undefined, { timeout: 5000 });
    await page.close();
  });
});
