// The status page served at `/`: one self-contained HTML document (inline CSS, JS, SVG) that renders /status and refreshes itself.
//
// Every string from /status reaches the page through textContent or an attribute set with setAttribute, never
// through innerHTML: a receiver's reason text holding markup shows as text. The script is plain ES2017 in a raw
// string (no template literals inside, so nothing here is interpolated by TypeScript).

const STYLE = String.raw`
:root { --bg:#f6f8fa; --card:#fff; --fg:#1f2328; --dim:#59636e; --line:#d1d9e0; --ok:#1a7f37; --warn:#9a6700; --bad:#cf222e; --info:#0969da; }
@media (prefers-color-scheme: dark) { :root { --bg:#0d1117; --card:#161b22; --fg:#e6edf3; --dim:#9198a1; --line:#30363d; --ok:#3fb950; --warn:#d29922; --bad:#f85149; --info:#4493f8; } }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; background:var(--bg); color:var(--fg); }
header { display:flex; flex-wrap:wrap; gap:8px 16px; align-items:baseline; padding:12px 16px; border-bottom:1px solid var(--line); background:var(--card); position:sticky; top:0; z-index:1; }
header h1 { font-size:18px; margin:0; }
#updated, .dim { color:var(--dim); }
#conn { color:var(--bad); font-weight:600; }
main { padding:12px 16px 32px; max-width:1400px; margin:0 auto; }
h2 { font-size:15px; margin:20px 0 8px; text-transform:uppercase; letter-spacing:.04em; color:var(--dim); }
.grid { display:grid; grid-template-columns:repeat(auto-fill,minmax(330px,1fr)); gap:12px; }
.card { background:var(--card); border:1px solid var(--line); border-left:4px solid var(--line); border-radius:6px; padding:10px 12px; min-width:0; }
.card.ok { border-left-color:var(--ok); } .card.warn { border-left-color:var(--warn); } .card.bad { border-left-color:var(--bad); }
.title { display:flex; justify-content:space-between; gap:8px; align-items:baseline; }
.name { font-weight:600; overflow-wrap:anywhere; }
.badge { font-size:12px; font-weight:600; padding:1px 8px; border-radius:10px; white-space:nowrap; border:1px solid currentColor; }
.badge.ok { color:var(--ok); } .badge.warn { color:var(--warn); } .badge.bad { color:var(--bad); } .badge.info { color:var(--info); }
dl { display:grid; grid-template-columns:max-content 1fr; gap:2px 12px; margin:8px 0 0; }
dt { color:var(--dim); } dd { margin:0; font-variant-numeric:tabular-nums; overflow-wrap:anywhere; }
.big { font-size:20px; font-weight:600; }
.err { color:var(--bad); overflow-wrap:anywhere; white-space:pre-wrap; }
.warnt { color:var(--warn); } .okt { color:var(--ok); }
.charts { display:grid; grid-template-columns:1fr 1fr; gap:8px; margin-top:8px; }
.chart { min-width:0; } .chart .cap { display:flex; justify-content:space-between; font-size:12px; color:var(--dim); }
.chart svg { width:100%; height:44px; display:block; background:var(--bg); border-radius:3px; }
.chart polyline { fill:none; stroke:var(--info); stroke-width:1.5; vector-effect:non-scaling-stroke; }
.bar { height:8px; background:var(--bg); border:1px solid var(--line); border-radius:4px; overflow:hidden; margin-top:3px; }
.bar > span { display:block; height:100%; background:var(--ok); }
.bar.warn > span { background:var(--warn); } .bar.bad > span { background:var(--bad); }
#alert { margin-top:8px; } #alert ul { margin:4px 0 0; padding-left:18px; }
ul.reasons { margin:4px 0 0; padding-left:18px; } ul.reasons li { overflow-wrap:anywhere; }
@media (max-width:520px) { main { padding:8px; } .grid { grid-template-columns:1fr; } .charts { grid-template-columns:1fr; } header { padding:8px; } }
`;

const SCRIPT = String.raw`
"use strict";
var params = new URLSearchParams(location.search);
var refreshS = Math.min(60, Math.max(1, Number(params.get("refresh")) || 5));
var SVGNS = "http://www.w3.org/2000/svg";

function el(tag, attrs, children) {
  var e = document.createElement(tag);
  if (attrs) for (var k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, String(attrs[k]));
  (children || []).forEach(function (c) { if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c))); });
  return e;
}
function pad(n) { return n < 10 ? "0" + n : String(n); }
function dur(ms) {
  if (typeof ms !== "number" || !isFinite(ms)) return "\u2014";
  var neg = ms < 0; ms = Math.abs(ms);
  var s = Math.floor(ms / 1000), m = Math.floor(s / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
  var t = d > 0 ? d + " d " + (h % 24) + " h" : h > 0 ? h + " h " + pad(m % 60) + " min" : m > 0 ? m + " min " + pad(s % 60) + " s" : s + " s";
  return (neg ? "-" : "") + t;
}
function num(n) { return typeof n === "number" ? n.toLocaleString("en-US") : "\u2014"; }
function bytes(n) {
  if (typeof n !== "number") return "\u2014";
  var u = ["B", "KB", "MB", "GB", "TB"], i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + u[i];
}
function ago(at, now) { return typeof at === "number" ? dur(now - at) + " ago" : "never"; }
function level(state) {
  if (state === "failing" || state === "failed" || state === "expired" || state === "critical") return "bad";
  if (state === "backoff" || state === "retrying" || state === "paused" || state === "warn" || state === "starting") return "warn";
  if (state === "disabled" || state === "stopped") return "";
  return "ok";
}
function worst(a, b) { var r = { "": 0, ok: 1, warn: 2, bad: 3 }; return (r[b] || 0) > (r[a] || 0) ? b : a; }

function spark(label, values, fmt, field, t) {
  var vals = (values || []).map(function (v) { return typeof v === "number" && isFinite(v) ? v : null; });
  var known = vals.filter(function (v) { return v !== null; });
  var max = known.length ? Math.max.apply(null, known) : 0;
  var last = known.length ? known[known.length - 1] : null;
  var svg = document.createElementNS(SVGNS, "svg");
  svg.setAttribute("viewBox", "0 0 100 40");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  var title = document.createElementNS(SVGNS, "title");
  title.textContent = label + ", last " + vals.length + " samples, max " + fmt(max);
  svg.append(title);
  var n = vals.length, pts = [];
  function flush() {
    if (pts.length === 1) pts.push((Number(pts[0].split(",")[0]) + 0.5) + "," + pts[0].split(",")[1]);
    if (pts.length > 1) { var pl = document.createElementNS(SVGNS, "polyline"); pl.setAttribute("points", pts.join(" ")); svg.append(pl); }
    pts = [];
  }
  vals.forEach(function (v, i) {
    if (v === null) { flush(); return; }
    var x = n > 1 ? (i * 100) / (n - 1) : 50;
    var y = 38 - (max > 0 ? (v / max) * 36 : 0);
    pts.push(x.toFixed(2) + "," + y.toFixed(2));
  });
  flush();
  return el("div", { class: "chart", "data-chart": field }, [
    el("div", { class: "cap" }, [el("span", null, [label]), el("span", null, ["max " + fmt(max)])]),
    svg,
    el("div", { class: "cap" }, [el("span", null, [t && t.length > 1 ? "last " + dur(t[t.length - 1] - t[0]) : n + " sample(s)"]), el("span", null, ["now " + (last === null ? "\u2014" : fmt(last))])]),
  ]);
}
function row(dl, term, value, attrs) { dl.append(el("dt", null, [term]), el("dd", attrs || null, [value])); }
function bar(frac, lvl) {
  var pct = Math.max(0, Math.min(100, Math.round(frac * 100)));
  return el("div", { class: "bar " + lvl }, [el("span", { style: "width:" + pct + "%" })]);
}

function limit(ms) { return ms % 86400000 === 0 ? ms / 86400000 + " d" : ms % 3600000 === 0 ? ms / 3600000 + " h" : dur(ms); }
function sourceCard(s, hist, now, t) {
  var ret = s.retention || {};
  var lvl = s.state === "disabled" ? "" : worst(level(s.health_state), level(ret.level));
  var dl = el("dl");
  row(dl, "lag", dur(s.lag_ms), { "data-field": "lag", class: "big" });
  row(dl, "events", num(s.events) + (s.duplicates ? " (" + num(s.duplicates) + " duplicates dropped)" : ""), { "data-field": "events" });
  var age = typeof s.cursor_age_ms === "number" ? s.cursor_age_ms : null;
  var retText = age === null ? "unknown yet" : dur(age) + " of " + limit(ret.limit_ms) + " kept, warn at " + limit(ret.warn_ms);
  var retDd = el("dd", { "data-field": "cursor-age", class: ret.level === "ok" ? "" : ret.level === "warn" ? "warnt" : "err" }, [
    retText,
    ret.level === "warn" ? " \u2014 warning: older than " + dur(ret.warn_ms) : ret.level === "critical" ? " \u2014 critical: data at the cursor expires in " + dur(ret.limit_ms - age) : ret.level === "expired" ? " \u2014 past Mimecast's retention: data was lost" : "",
    age === null ? null : bar(age / ret.limit_ms, ret.level === "ok" ? "" : ret.level === "warn" ? "warn" : "bad"),
  ]);
  dl.append(el("dt", { title: (ret.name || "") + ": " + (ret.source || "") }, ["cursor age"]), retDd);
  row(dl, "last poll", ago(s.lastPollAt, now));
  if (s.lastError) row(dl, "last error", s.lastError.message + " (" + ago(s.lastError.at, now) + ")", { "data-field": "error", class: "err" });
  var h = hist || { lag_ms: [], events_per_min: [] };
  return el("section", { class: "card " + lvl, "data-source": s.key }, [
    el("div", { class: "title" }, [el("span", { class: "name" }, [s.key]), el("span", { class: "badge " + (level(s.health_state) || "info"), "data-field": "health" }, [s.health || s.state])]),
    dl,
    el("div", { class: "charts" }, [spark("lag", h.lag_ms, dur, "lag", t), spark("events/min", h.events_per_min, num, "events-per-min", t)]),
  ]);
}

function sinkLevel(s, ready) {
  var check = ((ready && ready.checks) || []).filter(function (c) { return c.item === "sink " + s.name; })[0];
  if (s.state === "failed" || (check && !check.ok)) return "bad";
  return level(s.failingSince !== undefined ? "retrying" : s.state);
}
function sinkCard(s, hist, now, ready, t) {
  var lvl = sinkLevel(s, ready);
  var dl = el("dl");
  row(dl, "backlog", num(s.backlog), { "data-field": "backlog", class: "big" });
  row(dl, "delivered", num(s.delivered), { "data-field": "delivered" });
  row(dl, "last delivery", ago(s.lastDeliveryAt, now), { "data-field": "last-delivery" });
  if (s.failingSince !== undefined) row(dl, "failing for", dur(now - s.failingSince), { class: "err" });
  if (s.lastError) row(dl, "last error", s.lastError.message, { "data-field": "error", class: "err" });
  var dead = s.dead_letters || { count: 0, reasons: [] };
  var dd = el("dd", { "data-field": "dead-letters" }, [num(dead.count)]);
  if (dead.reasons.length) dd.append(el("ul", { class: "reasons" }, dead.reasons.map(function (r) { return el("li", { "data-field": "dead-reason" }, [r.reason + " \u00d7" + r.count]); })));
  dl.append(el("dt", null, ["dead letters"]), dd);
  var h = hist || { backlog: [], delivered_per_min: [] };
  return el("section", { class: "card " + lvl, "data-sink": s.name }, [
    el("div", { class: "title" }, [el("span", { class: "name" }, [s.name]), el("span", { class: "badge " + (lvl || "info"), "data-field": "state" }, [s.state])]),
    dl,
    el("div", { class: "charts" }, [spark("backlog", h.backlog, num, "backlog", t), spark("delivered/min", h.delivered_per_min, num, "delivered-per-min", t)]),
  ]);
}

function journalCard(j, now) {
  var fe = j.max_events ? j.events / j.max_events : 0, fb = j.max_bytes ? j.bytes / j.max_bytes : 0;
  var lv = function (f) { return f >= 0.9 ? "bad" : f >= 0.7 ? "warn" : ""; };
  var dl = el("dl");
  dl.append(el("dt", null, ["events"]), el("dd", { "data-field": "journal-events" }, [num(j.events) + " of " + num(j.max_events) + " (" + Math.round(fe * 100) + "%)", bar(fe, lv(fe))]));
  dl.append(el("dt", null, ["bytes"]), el("dd", { "data-field": "journal-bytes" }, [bytes(j.bytes) + " of " + bytes(j.max_bytes) + " (" + Math.round(fb * 100) + "%)", bar(fb, lv(fb))]));
  row(dl, "budget", j.over_budget ? "over budget: " + j.waiting + " source(s) paused until the sinks catch up" : "within budget", { class: j.over_budget ? "err" : "okt" });
  var q = el("dd", { "data-field": "quarantined" }, [num(j.quarantined)]);
  if ((j.quarantine_latest || []).length) q.append(el("ul", { class: "reasons" }, j.quarantine_latest.map(function (r) { return el("li", { "data-field": "quarantine-reason" }, [r.reason + " \u2014 " + r.key + (r.detail ? ": " + r.detail : "") + " (" + ago(r.at, now) + ")"]); })));
  dl.append(el("dt", null, ["quarantined"]), q);
  row(dl, "dead letters", num(j.dead_letters), { "data-field": "dead-letters-total" });
  return el("section", { class: "card " + (j.over_budget ? "bad" : lv(Math.max(fe, fb)) || "ok"), "data-journal": "" }, [el("div", { class: "title" }, [el("span", { class: "name" }, ["journal"])]), dl]);
}

function accountCard(a, now) {
  var c = a.credentials || { state: "unchecked" };
  var lvl = c.state === "accepted" ? (a.rate_limit && a.rate_limit.paused ? "warn" : "ok") : c.state === "rejected" ? "bad" : "warn";
  var dl = el("dl");
  row(dl, "credentials", c.state + (c.error ? ": " + c.error : ""), { "data-field": "credentials", class: c.state === "rejected" ? "err" : "" });
  var rl = a.rate_limit || {};
  row(dl, "rate limit", rl.paused ? "paused for " + dur(rl.paused_for_ms) + " (" + (rl.reason || "") + ")" : rl.pauses ? rl.pauses + " pause(s) so far, last: " + (rl.last_reason || "") : "no pause");
  return el("section", { class: "card " + lvl, "data-account": a.name }, [el("div", { class: "title" }, [el("span", { class: "name" }, [a.name + " (API " + (a.api === "v1" ? "1.0" : "2.0") + ")"])]), dl]);
}

var last = null;
function render(st) {
  var now = Date.parse(st.time) || Date.now();
  var hist = st.history || { sources: {}, sinks: {} };
  var srcs = st.sources || [], sinks = st.sinks || [];
  var overall = "ok";
  srcs.forEach(function (s) { if (s.state !== "disabled") overall = worst(overall, worst(level(s.health_state), level((s.retention || {}).level))); });
  sinks.forEach(function (s) { overall = worst(overall, sinkLevel(s, st.ready)); });
  if (st.journal && st.journal.over_budget) overall = "bad";
  var failing = (st.ready && st.ready.failing) || [];
  if (failing.length) overall = "bad";
  var alert = document.getElementById("alert");
  alert.replaceChildren.apply(alert, failing.length ? [el("strong", null, ["Not ready:"]), el("ul", null, failing.map(function (f) { return el("li", { "data-field": "not-ready" }, [f]); }))] : []);
  alert.hidden = failing.length === 0;
  var badge = document.getElementById("overall");
  badge.className = "badge " + overall;
  badge.textContent = overall === "ok" ? "all good" : overall === "warn" ? "needs attention" : "problem";
  document.getElementById("updated").textContent = "updated " + new Date(now).toISOString().slice(11, 19) + " UTC, every " + refreshS + " s";
  document.getElementById("sources").replaceChildren.apply(document.getElementById("sources"), srcs.length ? srcs.map(function (s) { return sourceCard(s, hist.sources[s.key], now, hist.t); }) : [el("p", { class: "dim" }, ["no streams configured"])]);
  document.getElementById("sinks").replaceChildren.apply(document.getElementById("sinks"), sinks.map(function (s) { return sinkCard(s, hist.sinks[s.name], now, st.ready, hist.t); }));
  var js = document.getElementById("journal");
  js.replaceChildren(journalCard(st.journal || {}, now));
  (st.accounts || []).forEach(function (a) { js.append(accountCard(a, now)); });
}
function refresh() {
  fetch("status", { cache: "no-store" }).then(function (r) {
    if (!r.ok) throw new Error("HTTP " + r.status);
    return r.json();
  }).then(function (st) {
    last = st;
    document.getElementById("conn").textContent = "";
    render(st);
    document.body.setAttribute("data-rendered", String(Date.now()));
  }).catch(function (e) {
    document.getElementById("conn").textContent = "cannot read /status: " + (e && e.message ? e.message : String(e)) + (last ? " (showing the last answer)" : "");
  }).then(function () { setTimeout(refresh, refreshS * 1000); });
}
refresh();
`;

/** The whole page. Its relative `status` URL keeps it working behind a path prefix. */
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mimecast-collector status</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header><h1>mimecast-collector</h1><span id="overall" class="badge info">loading</span><span id="updated"></span><span id="conn"></span></header>
<main>
<div id="alert" class="card bad err" hidden></div>
<h2>Streams</h2><div id="sources" class="grid"></div>
<h2>Sinks</h2><div id="sinks" class="grid"></div>
<h2>Journal and accounts</h2><div id="journal" class="grid"></div>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
