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
header{display:flex;align-items:baseline;gap:2vw;font-size:clamp(16px,2vw,88px);white-space:nowrap}
h1{font-size:1em;margin:0;font-weight:700;color:var(--muted)}
#summary{flex:1;font-weight:700;overflow:hidden;text-overflow:ellipsis}
#clock{font-variant-numeric:tabular-nums;color:var(--muted)}
#conn{color:var(--muted)}
#replica{color:var(--muted)}
#replica[hidden]{display:none}
#replica[data-leader=none]{color:#fca5a5;font-weight:700}
.dot{display:inline-block;width:.6em;height:.6em;border-radius:50%;background:#6b7280;margin-right:.35em}
body[data-conn=live] .dot{background:#22c55e}
body[data-conn=reconnecting] .dot,body[data-conn=stale] .dot{background:#ef4444}
#banner{background:#7f1d1d;color:#fff;font-size:clamp(18px,2.6vw,112px);font-weight:800;padding:.3em .7em;border-radius:.25em}
#banner[hidden]{display:none}
main{flex:1 1 0;min-height:0;display:grid;gap:1vw;grid-template-columns:repeat(auto-fit,minmax(min(100%,320px),1fr));grid-auto-rows:minmax(170px,1fr);overflow:auto}
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
.top{display:flex;align-items:baseline;gap:.6em;min-width:0;flex:0 0 auto}
.name{flex:1 1 auto;min-width:0;font-size:max(20px,min(11cqh,7.5cqw));font-weight:800;line-height:1.1;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.state{flex:0 0 auto;font-size:max(16px,min(9cqh,6cqw));font-weight:900;letter-spacing:.06em;text-transform:uppercase;line-height:1.1;white-space:nowrap}
.agerow .state{white-space:normal;width:min-content;text-align:right;line-height:1.15}
.agerow{display:flex;flex-wrap:wrap;align-items:center;column-gap:.6em;min-width:0;flex:0 0 auto}
.age{font-size:max(28px,min(22cqh,15cqw));font-weight:900;line-height:1.2;font-variant-numeric:tabular-nums;white-space:nowrap}
.age[data-long]{font-size:max(24px,min(18cqh,12cqw))}
.age .u{font-size:.5em;font-weight:800}
.agelabel,.detail,.sparklabel{font-size:max(16px,min(8cqh,5.8cqw));line-height:1.2;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;flex:0 0 auto}
.detail{white-space:normal;display:-webkit-box;-webkit-box-orient:vertical;-webkit-line-clamp:3}
.agelabel{opacity:.92;flex:1 1 0;min-width:7em;white-space:normal;line-height:1.1;overflow:visible}
.age[data-long]~.agelabel{order:1;flex-basis:100%}
.agerow .state{margin-left:auto}
.detail{opacity:.95}
.hist{flex:1 1 0;min-height:0;display:flex;flex-direction:column;gap:.8cqh;margin:1cqh 0}
.spark{flex:1 1 0;height:0;min-height:0;width:100%;display:block;background:rgba(0,0,0,.28);border-radius:4px}
.spark[hidden],.sparklabel[hidden]{display:none}
.spark .count{fill:rgba(255,255,255,.28);stroke:#fff;stroke-width:2;vector-effect:non-scaling-stroke}
.spark .normal{fill:none;stroke:#fde68a;stroke-width:2;stroke-dasharray:6 4;vector-effect:non-scaling-stroke}
.tile[data-state=quiet] .spark .count{stroke:#111;fill:rgba(0,0,0,.25)}
.tile[data-state=quiet] .spark .normal{stroke:#7c2d12}
.sparklabel{opacity:.95;font-variant-numeric:tabular-nums}
.sparklabel .key-normal{color:#fde68a}
.tile[data-state=quiet] .sparklabel .key-normal{color:#7c2d12}
.strip{flex:0 0 auto;height:max(10px,6cqh);width:100%;display:block;background:rgba(0,0,0,.45);border-radius:3px}
.strip rect{shape-rendering:crispEdges}
.strip rect[data-s=ok]{fill:#4ade80}
.strip rect[data-s=quiet]{fill:#fbbf24}
.strip rect[data-s=down]{fill:#ff3b3b}
.strip rect[data-s=unknown]{fill:#9ca3af}
.strip rect[data-s=paused]{fill:#93c5fd}
.strip rect[data-s=none]{fill:rgba(255,255,255,.08)}
.strip .now{fill:#fff}
.stripaxis{flex:0 0 auto;display:flex;justify-content:space-between;font-size:max(12px,min(5cqh,3.4cqw));line-height:1.1;opacity:.85;font-variant-numeric:tabular-nums}
#incidents{font-size:clamp(16px,1.8vw,80px);max-height:32vh;overflow:hidden}
#incidents h2{font-size:1em;margin:0 0 .3em;color:var(--muted);font-weight:700}
#inc-list{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:.25em}
.inc{background:#1f2937;border-left:.4em solid var(--down);padding:.2em .6em;display:flex;gap:1em;align-items:baseline;line-height:1.25}
.inc>*{flex:0 0 auto;white-space:nowrap}
.inc[data-acked=true]{border-left-color:var(--quiet)}
.inc .check{font-weight:800}
.inc .summary{flex:1 1 0;min-width:0;white-space:normal;overflow-wrap:anywhere;color:#e5e7eb;display:-webkit-box;-webkit-box-orient:vertical;-webkit-line-clamp:3;overflow:hidden}
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
  var replicaEl = $('replica');
  var incList = $('inc-list'), incNone = $('inc-none'), incError = $('inc-error'), incCount = $('inc-count');
  var token = new URLSearchParams(location.search).get('token');
  var offset = 0, heartbeatMs = 15000, lastHeard = 0, conn = 'connecting', lostAt = 0;
  var order = [], checks = new Map(), tiles = new Map(), incidents = [], incAgo = [], hist = new Map();
  var SVG = 'http://www.w3.org/2000/svg', WINDOW = 6 * 3600000;
  var es = null, retry = null, layoutKey = '';

  function el(tag, cls, parent) { var e = document.createElement(tag); if (cls) e.className = cls; if (parent) parent.appendChild(e); return e; }
  function setText(e, t) { if (e.textContent !== t) e.textContent = t; }
  /** The age with its units set small ("23 h 59 m": the numbers are what is read across the room). */
  function setAge(e, t) {
    if (e.textContent === t) return;
    e.textContent = '';
    t.split(/(\\d+)/).forEach(function (p, i) { if (p) (i % 2 ? e.appendChild(document.createTextNode(p)) : (el('span', 'u', e).textContent = p)); });
  }
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
    // The name gets the whole first row (it must never be cut on a wall screen); the state word
    // sits at the right of the age row.
    var top = el('div', 'top', root), agerow;
    t = { root: root, name: el('div', 'name', top) };
    agerow = el('div', 'agerow', root);
    t.age = el('div', 'age', agerow);
    t.label = el('div', 'agelabel', agerow);
    t.state = el('div', 'state', agerow);
    var h = el('div', 'hist', root);
    t.spark = svg('svg', 'spark', h, { viewBox: '0 0 360 100', preserveAspectRatio: 'none', role: 'img' });
    t.sparkNormal = svg('path', 'normal', t.spark, {});
    t.sparkCount = svg('path', 'count', t.spark, {});
    t.sparkLabel = el('div', 'sparklabel', h);
    t.strip = svg('svg', 'strip', h, { viewBox: '0 0 1000 10', preserveAspectRatio: 'none', role: 'img' });
    var axis = el('div', 'stripaxis', h);
    el('span', '', axis).textContent = '6 h ago';
    el('span', '', axis).textContent = '3 h';
    el('span', '', axis).textContent = 'now';
    t.detail = el('div', 'detail', root);
    t.spark.setAttribute('hidden', '');
    t.sparkLabel.hidden = true;
    t.name.textContent = name;
    tiles.set(name, t);
    return t;
  }

  function svg(tag, cls, parent, attrs) {
    var e = document.createElementNS(SVG, tag);
    if (cls) e.setAttribute('class', cls);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function fmtRate(n) { return n >= 10000 ? Math.round(n / 1000) + 'k' : n >= 1000 ? (n / 1000).toFixed(1) + 'k' : n >= 10 ? String(Math.round(n)) : String(Math.round(n * 10) / 10); }

  /** A check changed state: its strip gets a new band from when it did (until the next history frame). */
  function extendBands(c) {
    var h = hist.get(c.name);
    if (!h || !h.bands || !h.bands.length) return;
    var last = h.bands[h.bands.length - 1];
    if (last.status === c.status) return;
    var at = Math.max(c.since, last.from);
    last.to = at;
    h.bands.push({ from: at, to: null, status: c.status });
  }

  function renderHistory(name) {
    var t = tiles.get(name), h = hist.get(name);
    if (!t) return;
    var now = serverNow(), start = now - WINDOW;
    // The strip: one band per state, oldest on the left, now on the right.
    var bands = (h && h.bands) || [];
    while (t.strip.firstChild) t.strip.removeChild(t.strip.firstChild);
    var downMs = 0;
    for (var i = 0; i < bands.length; i++) {
      var b = bands[i], from = Math.max(b.from, start), to = b.to === null || b.to === undefined ? now : Math.min(b.to, now);
      if (to <= from) continue;
      var x = (from - start) / WINDOW * 1000, w = Math.max(1.5, (to - from) / WINDOW * 1000);
      var r = svg('rect', '', t.strip, { x: x.toFixed(2), y: '0', width: w.toFixed(2), height: '10', 'data-s': STATE_WORD[b.status] || b.status === 'none' ? b.status : 'unknown' });
      if (b.status === 'down') downMs += to - from;
      r.setAttribute('data-from', String(Math.round(from)));
    }
    t.strip.setAttribute('aria-label', 'last 6 hours' + (downMs ? ': down for ' + fmt(downMs) : ''));
    t.strip.setAttribute('data-down-ms', String(Math.round(downMs)));
    // The sparkline: events per minute (area) against the learned normal (dashed), complete minutes only.
    var rate = h && h.rate;
    if (!rate || !rate.counts || rate.counts.length < 2) {
      t.spark.setAttribute('hidden', '');
      t.sparkLabel.hidden = true;
      return;
    }
    var counts = rate.counts.slice(0, -1), expected = (rate.expected || []).slice(0, -1);
    var n = counts.length, max = 1;
    for (var j = 0; j < n; j++) { if (counts[j] > max) max = counts[j]; if (typeof expected[j] === 'number' && expected[j] > max) max = expected[j]; }
    max *= 1.12;
    var step = 360 / Math.max(1, n - 1), d = 'M0,100', dn = '', pen = false;
    for (var k = 0; k < n; k++) {
      var xx = (k * step).toFixed(1);
      d += ' L' + xx + ',' + (100 - counts[k] / max * 100).toFixed(1);
      if (typeof expected[k] === 'number') { dn += (pen ? ' L' : ' M') + xx + ',' + (100 - expected[k] / max * 100).toFixed(1); pen = true; } else pen = false;
    }
    d += ' L' + ((n - 1) * step).toFixed(1) + ',100 Z';
    t.sparkCount.setAttribute('d', d);
    t.sparkNormal.setAttribute('d', dn);
    t.spark.removeAttribute('hidden');
    var perMin = 60000 / (rate.bucketMs || 60000);
    var lastC = counts[n - 1] * perMin, lastE = expected[n - 1];
    t.sparkLabel.textContent = '';
    el('span', '', t.sparkLabel).textContent = fmtRate(lastC) + '/min';
    if (typeof lastE === 'number') {
      t.sparkLabel.appendChild(document.createTextNode(' \u00b7 '));
      el('span', 'key-normal', t.sparkLabel).textContent = 'normal ' + fmtRate(lastE * perMin) + '/min';
    }
    t.spark.setAttribute('aria-label', 'events per minute, last 6 hours');
    t.sparkLabel.hidden = false;
  }
  function renderAllHistory() { order.forEach(renderHistory); }

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
    grid.style.gridAutoRows = 'minmax(170px, ' + (bestScore >= 170 ? '1fr' : '170px') + ')';
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
      // "QUIET ·" over "PROBING": the state word takes two short lines rather than one long one.
      if (c.probe && st !== 'down') word += '\\u00a0\\u00b7 PROBING';
      if (c.held) word += '\\u00a0\\u00b7 HELD';
      setText(t.state, word);
      if (c.lastEventAt === null || c.lastEventAt === undefined) {
        setText(t.age, '\\u2014');
        t.age.removeAttribute('data-age-s');
        t.age.removeAttribute('data-long');
        setText(t.label, 'no event yet');
      } else {
        var age = Math.max(0, now - c.lastEventAt);
        setAge(t.age, fmt(age));
        t.age.setAttribute('data-age-s', String(Math.floor(age / 1000)));
        // Minutes and hours ("1 m 40 s", "23 h 59 m") are set a little smaller, to leave room on the row.
        if (age >= 100000) t.age.setAttribute('data-long', ''); else t.age.removeAttribute('data-long');
        setText(t.label, 'since the last event');
      }
      var parts = [STATE_WORD[st] + ' for ' + fmt(now - c.since)];
      if (typeof c.lagMs === 'number' && c.lagMs > 0) parts.push('lag ' + fmtMs(c.lagMs));
      if (st !== 'down' && st !== 'paused') parts.push('pages at ' + fmtLimit(c.pageAfterMs) + ' silent');
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

  /** Which replica leads (replicas on PostgreSQL): shown beside the connection state. */
  function renderReplica(r) {
    if (!r || typeof r !== 'object') { replicaEl.hidden = true; return; }
    var text = r.leader ? 'leader ' + String(r.leader) + (r.leader === r.self ? ' (this replica)' : ' \u00b7 this replica follows') : 'no leader \u2014 takeover in progress';
    setText(replicaEl, text);
    replicaEl.setAttribute('data-leader', r.leader ? (r.leader === r.self ? 'self' : 'other') : 'none');
    replicaEl.setAttribute('data-role', String(r.role));
    replicaEl.hidden = false;
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
      hist = new Map();
      if (d.history) Object.keys(d.history).forEach(function (k) { hist.set(k, d.history[k]); });
      renderChecks();
      renderIncidents(d.incidents, d.incidentsError);
      renderAllHistory();
      renderReplica(d.replica);
    });
    es.addEventListener('replica', function (e) {
      var d = parse(e);
      if (!d) return;
      heard(d.serverTime);
      renderReplica(d.replica);
    });
    es.addEventListener('history', function (e) {
      var d = parse(e);
      if (!d || !d.history) return;
      heard(d.serverTime);
      Object.keys(d.history).forEach(function (k) { hist.set(k, d.history[k]); checks.has(k) && extendBands(checks.get(k)); });
      renderAllHistory();
    });
    es.addEventListener('check', function (e) {
      var d = parse(e);
      if (!d || !d.check) return;
      heard(d.serverTime);
      if (!checks.has(d.check.name)) order.push(d.check.name);
      var prev = checks.get(d.check.name);
      checks.set(d.check.name, d.check);
      renderChecks();
      if (!prev || prev.status !== d.check.status) { extendBands(d.check); renderHistory(d.check.name); }
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
  setInterval(renderAllHistory, 15000);
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
<header><h1>quietwatch</h1><div id="summary"></div><div id="replica" hidden></div><div id="conn"><span class="dot"></span><span id="conn-text">connecting…</span></div><div id="clock"></div></header>
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
