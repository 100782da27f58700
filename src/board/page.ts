/**
 * The status board page: one self-contained HTML document (inline CSS and JS, no external assets, no
 * framework) for an office screen. It carries no data of its own: it opens the event stream with the
 * token it was loaded with, and puts every string into the DOM with textContent. The inline script
 * and style are allowed by their SHA-256 in the Content-Security-Policy, and nothing else is.
 *
 * Readability from across a room: tiles fill the screen (the column count is chosen for the number
 * of checks and the screen's shape) and the text scales with the tile (container query units).
 * A board that stops hearing from the server says so and greys out: a frozen green board would lie.
 */
import { createHash } from 'node:crypto';
import type { CheckStatus } from '../checks/types.ts';

/** Tile background per state (tests compare the computed colour with these). */
export const STATE_COLOURS: Readonly<Record<CheckStatus, string>> = {
  ok: '#15803d',
  quiet: '#d97706',
  down: '#dc2626',
  unknown: '#4b5563',
  paused: '#2563eb',
};

const CSS = `
:root{color-scheme:dark;--ok:${STATE_COLOURS.ok};--quiet:${STATE_COLOURS.quiet};--down:${STATE_COLOURS.down};--unknown:${STATE_COLOURS.unknown};--paused:${STATE_COLOURS.paused};--bg:#0b0f14;--muted:#9ca3af}
*{box-sizing:border-box}
html,body{margin:0;height:100%}
body{background:var(--bg);color:#f3f4f6;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue","DejaVu Sans",Arial,sans-serif;display:flex;flex-direction:column;height:100vh;padding:1vw;gap:1vw;overflow:hidden}
header{display:flex;align-items:baseline;gap:2vw;font-size:clamp(16px,2vw,44px);white-space:nowrap}
h1{font-size:1em;margin:0;font-weight:700;color:var(--muted)}
#summary{flex:1;font-weight:700;overflow:hidden;text-overflow:ellipsis}
#clock{font-variant-numeric:tabular-nums;color:var(--muted)}
#conn{color:var(--muted)}
.dot{display:inline-block;width:.6em;height:.6em;border-radius:50%;background:#6b7280;margin-right:.35em}
body[data-conn=live] .dot{background:#22c55e}
body[data-conn=reconnecting] .dot,body[data-conn=stale] .dot{background:#ef4444}
#banner{background:#7f1d1d;color:#fff;font-size:clamp(18px,2.6vw,56px);font-weight:800;padding:.3em .7em;border-radius:.25em}
#banner[hidden]{display:none}
main{flex:1 1 0;min-height:0;display:grid;gap:1vw;grid-template-columns:repeat(auto-fit,minmax(min(100%,320px),1fr));grid-auto-rows:minmax(120px,1fr);overflow:auto}
.tile{container-type:size;min-width:0;min-height:0;border-radius:.8vw;padding:1.2vmin 1.8vmin;background:var(--unknown);color:#fff;display:flex;flex-direction:column;justify-content:space-between;overflow:hidden}
.tile[data-state=ok]{background:var(--ok)}
.tile[data-state=quiet]{background:var(--quiet);color:#111}
.tile[data-state=down]{background:var(--down)}
.tile[data-state=paused]{background:var(--paused)}
.tile[data-state=unknown]{background:var(--unknown)}
.tile[data-state=down]{animation:pulse 1.6s ease-in-out infinite}
@keyframes pulse{50%{box-shadow:inset 0 0 0 .8vmin #fff}}
@media (prefers-reduced-motion:reduce){.tile[data-state=down]{animation:none;box-shadow:inset 0 0 0 .6vmin #fff}}
body[data-conn=reconnecting] .tile,body[data-conn=stale] .tile{filter:saturate(.2) brightness(.6)}
.name{font-size:3vw;font-size:min(13cqh,7.5cqw);font-weight:800;line-height:1.1;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.state{font-size:2.5vw;font-size:min(12cqh,7cqw);font-weight:900;letter-spacing:.06em;text-transform:uppercase;line-height:1.1}
.age{font-size:6vw;font-size:min(34cqh,17cqw);font-weight:900;line-height:1;font-variant-numeric:tabular-nums;white-space:nowrap}
.agelabel,.detail{font-size:1.2vw;font-size:min(7cqh,4.2cqw);line-height:1.2;opacity:.92;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
#incidents{font-size:clamp(16px,1.8vw,40px);max-height:32vh;overflow:hidden}
#incidents h2{font-size:1em;margin:0 0 .3em;color:var(--muted);font-weight:700}
#inc-list{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:.25em}
.inc{background:#1f2937;border-left:.4em solid var(--down);padding:.2em .6em;display:flex;gap:1em;align-items:baseline;white-space:nowrap;overflow:hidden}
.inc[data-acked=true]{border-left-color:var(--quiet)}
.inc .check{font-weight:800}
.inc .summary{flex:1;overflow:hidden;text-overflow:ellipsis;color:#e5e7eb}
.inc .ago{font-variant-numeric:tabular-nums;color:#d1d5db}
.inc .ack{font-weight:800;color:#fbbf24}
#inc-none{margin:0;color:var(--muted)}
#inc-none[hidden],#inc-error[hidden]{display:none}
#inc-error{margin:.2em 0 0;color:#fca5a5}
`;

// Plain ES2017 without template literals (this file is a TS template literal itself).
const SCRIPT = `
(function () {
  'use strict';
  var STATE_WORD = { ok: 'ok', quiet: 'quiet', down: 'down', unknown: 'unknown', paused: 'paused' };
  var ORDER = ['down', 'quiet', 'unknown', 'paused', 'ok'];
  var $ = function (id) { return document.getElementById(id); };
  var grid = $('grid'), summary = $('summary'), clock = $('clock'), connText = $('conn-text'), banner = $('banner');
  var incList = $('inc-list'), incNone = $('inc-none'), incError = $('inc-error'), incCount = $('inc-count');
  var token = new URLSearchParams(location.search).get('token');
  var offset = 0, heartbeatMs = 15000, lastHeard = 0, conn = 'connecting', lostAt = 0;
  var order = [], checks = new Map(), tiles = new Map(), incidents = [], incAgo = [];
  var es = null, retry = null, layoutKey = '';

  function el(tag, cls, parent) { var e = document.createElement(tag); if (cls) e.className = cls; if (parent) parent.appendChild(e); return e; }
  function setText(e, t) { if (e.textContent !== t) e.textContent = t; }
  function serverNow() { return Date.now() + offset; }
  function pad(n) { return n < 10 ? '0' + n : String(n); }
  function fmt(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    if (s < 100) return s + ' s';
    var m = Math.floor(s / 60);
    if (m < 60) return m + ' m ' + pad(s % 60) + ' s';
    var h = Math.floor(m / 60);
    if (h < 48) return h + ' h ' + pad(m % 60) + ' m';
    return Math.floor(h / 24) + ' d ' + (h % 24) + ' h';
  }
  function fmtLimit(ms) {
    if (ms < 10000 && ms % 1000) return (ms / 1000).toFixed(1) + ' s';
    var s = Math.round(ms / 1000);
    if (s < 60) return s + ' s';
    var m = Math.floor(s / 60), rs = s % 60;
    if (m < 60) return m + ' m' + (rs ? ' ' + rs + ' s' : '');
    var h = Math.floor(m / 60), rm = m % 60;
    return h + ' h' + (rm ? ' ' + rm + ' m' : '');
  }
  function fmtMs(ms) { return ms < 1000 ? Math.round(ms) + ' ms' : fmt(ms); }
  function hhmmss(t) { var d = new Date(t); return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()); }

  function heard(serverTime) {
    lastHeard = Date.now();
    if (typeof serverTime === 'number' && isFinite(serverTime)) offset = serverTime - Date.now();
    setConn('live');
  }
  function setConn(c) {
    if (c !== 'live' && conn === 'live') lostAt = Date.now();
    conn = c;
    document.body.setAttribute('data-conn', c);
  }

  function tile(name) {
    var t = tiles.get(name);
    if (t) return t;
    var root = el('article', 'tile');
    root.setAttribute('data-check', name);
    root.title = name;
    t = { root: root, name: el('div', 'name', root), state: el('div', 'state', root), age: el('div', 'age', root), label: el('div', 'agelabel', root), detail: el('div', 'detail', root) };
    t.name.textContent = name;
    tiles.set(name, t);
    return t;
  }

  function layout() {
    var n = order.length;
    var key = n + ':' + grid.clientWidth + 'x' + grid.clientHeight;
    if (key === layoutKey || n === 0) return;
    layoutKey = key;
    var w = grid.clientWidth || window.innerWidth, h = grid.clientHeight || window.innerHeight;
    var best = 1, bestScore = -1;
    for (var cols = 1; cols <= n; cols++) {
      var rows = Math.ceil(n / cols);
      var score = Math.min(w / cols / 1.7, h / rows);
      if (score > bestScore + 0.5) { best = cols; bestScore = score; }
    }
    grid.style.gridTemplateColumns = 'repeat(' + best + ', minmax(0, 1fr))';
    grid.style.gridAutoRows = 'minmax(120px, ' + (bestScore >= 120 ? '1fr' : '120px') + ')';
  }

  function renderChecks() {
    var seen = new Set();
    for (var i = 0; i < order.length; i++) {
      var t = tile(order[i]);
      seen.add(order[i]);
      if (grid.children[i] !== t.root) grid.insertBefore(t.root, grid.children[i] || null);
    }
    tiles.forEach(function (t, name) { if (!seen.has(name)) { t.root.remove(); tiles.delete(name); } });
    layout();
    tick();
  }

  function renderIncidents(list, error) {
    incidents = Array.isArray(list) ? list : [];
    incList.textContent = '';
    incAgo = [];
    for (var i = 0; i < incidents.length; i++) {
      var inc = incidents[i];
      var li = el('li', 'inc', incList);
      li.setAttribute('data-incident', String(inc.id));
      li.setAttribute('data-check', String(inc.check));
      li.setAttribute('data-acked', inc.acknowledgedAt ? 'true' : 'false');
      el('span', 'check', li).textContent = String(inc.check);
      el('span', 'summary', li).textContent = String(inc.summary || '');
      if (inc.acknowledgedAt) el('span', 'ack', li).textContent = 'ACKNOWLEDGED';
      incAgo.push([el('span', 'ago', li), inc.openedAt]);
    }
    incCount.textContent = incidents.length ? '(' + incidents.length + ')' : '';
    incNone.hidden = incidents.length > 0;
    incError.hidden = !error;
    incError.textContent = error ? String(error) : '';
    layoutKey = '';
    layout();
    tick();
  }

  function tick() {
    var now = serverNow();
    var counts = { down: 0, quiet: 0, unknown: 0, paused: 0, ok: 0 };
    var withIncident = new Map();
    for (var i = 0; i < incidents.length; i++) withIncident.set(incidents[i].check, incidents[i].acknowledgedAt ? 'acknowledged' : 'open');
    for (var j = 0; j < order.length; j++) {
      var c = checks.get(order[j]), t = tiles.get(order[j]);
      if (!c || !t) continue;
      var st = STATE_WORD[c.status] ? c.status : 'unknown';
      counts[st]++;
      if (t.root.getAttribute('data-state') !== st) t.root.setAttribute('data-state', st);
      var word = st.toUpperCase();
      if (c.probe && st !== 'down') word += ' \\u00b7 PROBING';
      if (c.held) word += ' \\u00b7 HELD';
      setText(t.state, word);
      if (c.lastEventAt === null || c.lastEventAt === undefined) {
        setText(t.age, '\\u2014');
        t.age.removeAttribute('data-age-s');
        setText(t.label, 'no event yet');
      } else {
        var age = Math.max(0, now - c.lastEventAt);
        setText(t.age, fmt(age));
        t.age.setAttribute('data-age-s', String(Math.floor(age / 1000)));
        setText(t.label, 'since the last event');
      }
      var parts = [STATE_WORD[st] + ' for ' + fmt(now - c.since)];
      if (typeof c.lagMs === 'number' && c.lagMs > 0) parts.push('lag ' + fmtMs(c.lagMs));
      if (st !== 'down' && st !== 'paused') parts.push('down after ' + fmtLimit(c.pageAfterMs) + ' silent');
      var inc = withIncident.get(c.name);
      if (inc) parts.push('incident ' + inc);
      setText(t.detail, parts.join(' \\u00b7 '));
    }
    for (var k = 0; k < incAgo.length; k++) setText(incAgo[k][0], 'opened ' + fmt(now - incAgo[k][1]) + ' ago');
    var bits = [];
    for (var o = 0; o < ORDER.length; o++) if (counts[ORDER[o]]) bits.push(counts[ORDER[o]] + ' ' + ORDER[o]);
    setText(summary, order.length ? bits.join(' \\u00b7 ') : 'no checks configured');
    var title = counts.down ? counts.down + ' DOWN \\u2014 quietwatch' : counts.quiet ? counts.quiet + ' quiet \\u2014 quietwatch' : 'quietwatch';
    if (document.title !== title) document.title = title;
    setText(clock, lastHeard ? hhmmss(now) : '');
    if (conn === 'live' && lastHeard && Date.now() - lastHeard > heartbeatMs * 2 + 5000) setConn('stale');
    var msg = '';
    if (conn === 'stale') msg = 'No word from quietwatch for ' + fmt(Date.now() - lastHeard) + ' \\u2014 this board may be out of date';
    else if (conn === 'reconnecting') msg = 'Connection to quietwatch lost ' + fmt(Date.now() - (lostAt || Date.now())) + ' ago \\u2014 reconnecting; this board may be out of date';
    setText(banner, msg);
    banner.hidden = !msg;
    setText(connText, conn === 'live' ? 'live' : conn === 'connecting' ? 'connecting\\u2026' : conn);
  }

  function parse(e) { try { return JSON.parse(e.data); } catch (err) { return null; } }

  function connect() {
    retry = null;
    var url = new URL('v1/board/stream', location.href);
    url.search = '';
    if (token) url.searchParams.set('token', token);
    es = new EventSource(url.toString());
    es.addEventListener('snapshot', function (e) {
      var d = parse(e);
      if (!d) return;
      heard(d.serverTime);
      if (typeof d.heartbeatMs === 'number' && d.heartbeatMs > 0) heartbeatMs = d.heartbeatMs;
      order = []; checks = new Map();
      (d.checks || []).forEach(function (c) { order.push(c.name); checks.set(c.name, c); });
      renderChecks();
      renderIncidents(d.incidents, d.incidentsError);
    });
    es.addEventListener('check', function (e) {
      var d = parse(e);
      if (!d || !d.check) return;
      heard(d.serverTime);
      if (!checks.has(d.check.name)) order.push(d.check.name);
      checks.set(d.check.name, d.check);
      renderChecks();
    });
    es.addEventListener('incidents', function (e) {
      var d = parse(e);
      if (!d) return;
      heard(d.serverTime);
      renderIncidents(d.incidents, d.incidentsError);
    });
    es.addEventListener('time', function (e) { var d = parse(e); if (d) heard(d.serverTime); });
    es.onerror = function () {
      setConn('reconnecting');
      // EventSource retries by itself after a network error, but gives up for good on an HTTP
      // error (a 401, a 503 while the server restarts): then start over ourselves.
      if (es.readyState === 2 && !retry) { es.close(); retry = setTimeout(connect, 5000); }
      tick();
    };
  }

  window.addEventListener('resize', function () { layoutKey = ''; layout(); });
  setInterval(tick, 250);
  connect();
})();
`;

const HTML_HEAD = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="color-scheme" content="dark">
<link rel="icon" href="data:,">
<title>quietwatch</title>
<style>${CSS}</style>
</head>
<body data-conn="connecting">
<header><h1>quietwatch</h1><div id="summary"></div><div id="conn"><span class="dot"></span><span id="conn-text">connecting…</span></div><div id="clock"></div></header>
<div id="banner" role="alert" hidden></div>
<main id="grid"></main>
<section id="incidents"><h2>Open incidents <span id="inc-count"></span></h2><ul id="inc-list"></ul><p id="inc-none">none</p><p id="inc-error" hidden></p></section>
<script>${SCRIPT}</script>
</body>
</html>
`;

const sha256 = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

export interface BoardPage {
  html: string;
  /** Response headers for the page: a strict CSP that admits only the inline script and style. */
  headers: Record<string, string>;
}

export const boardPage: BoardPage = {
  html: HTML_HEAD,
  headers: {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': [
      "default-src 'none'",
      `script-src ${sha256(SCRIPT)}`,
      `style-src ${sha256(CSS)}`,
      "connect-src 'self'",
      'img-src data:',
      "base-uri 'none'",
      "form-action 'none'",
    ].join('; '),
    'x-content-type-options': 'nosniff',
    // The page may be loaded with a token in its URL: never send it on as a Referer.
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
  },
};
