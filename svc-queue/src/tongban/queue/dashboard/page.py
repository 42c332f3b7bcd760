"""The city's service dashboard page (城市政务服务实时看板) for a wall screen: a static page with no
figures in it. It takes its token from the address's fragment (`#token=…`, which browsers never
send to a server, so it stays out of access logs), keeps it for the tab only, and follows
`/dashboard/events` (Server-Sent Events, read with fetch so the token goes in a header)."""

import json

_PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>城市政务服务实时看板</title>
<style>
  :root { --bg: #0b1d33; --panel: #12304f; --text: #f4f7fb; --muted: #9fb3c8; --good: #5dd39e; --warn: #ffd166;
          --bad: #ff6b6b; }
  * { box-sizing: border-box; }
  body { margin: 0; font-family: "Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", sans-serif;
         background: var(--bg); color: var(--text); font-size: 1.15vw; }
  header { display: flex; justify-content: space-between; align-items: baseline; padding: .8vw 1.5vw;
           background: var(--panel); }
  h1 { margin: 0; font-size: 2.2vw; letter-spacing: .1em; }
  #clock { font-size: 1.4vw; color: var(--muted); }
  #tiles { display: grid; grid-template-columns: repeat(6, 1fr); gap: .8vw; padding: 1vw 1.5vw; }
  .tile { background: var(--panel); border-radius: .5vw; padding: .6vw 1vw; }
  .tile .label { color: var(--muted); font-size: 1vw; }
  .tile .value { font-size: 2.8vw; font-weight: bold; font-variant-numeric: tabular-nums; }
  .tile.warn .value { color: var(--warn); } .tile.bad .value { color: var(--bad); }
  .tile.good .value { color: var(--good); }
  main { display: grid; grid-template-columns: 1.15fr 1fr; gap: 1.2vw; padding: 0 1.5vw 1vw; }
  h2 { font-size: 1.4vw; margin: .4vw 0; color: var(--muted); font-weight: normal; }
  table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
  th { text-align: right; color: var(--muted); font-weight: normal; padding: .3vw .4vw;
       border-bottom: 1px solid #2b4a6b; }
  td { text-align: right; padding: .35vw .4vw; border-bottom: 1px solid #1c3a5a; }
  th:first-child, td:first-child { text-align: left; }
  td.hot { color: var(--bad); font-weight: bold; } td.warm { color: var(--warn); }
  .closed { color: var(--muted); }
  #hours { display: flex; align-items: flex-end; gap: .4vw; height: 8vw; padding: .4vw 0; }
  #hours .bar { flex: 1; max-width: 5vw; background: #3a86ff; position: relative; min-height: 2px; }
  #hours .bar span { position: absolute; bottom: -1.4vw; width: 100%; text-align: center; color: var(--muted);
                     font-size: .8vw; }
  #hours .bar b { position: absolute; top: -1.3vw; width: 100%; text-align: center; font-size: .8vw; }
  footer { padding: 1.2vw 1.5vw .5vw; color: var(--muted); font-size: .9vw; }
  #status.error { color: var(--bad); }
</style>
</head>
<body>
<header><h1>城市政务服务实时看板</h1><div id="clock">—</div></header>
<section id="tiles">
  <div class="tile"><div class="label">全市等候人数</div><div class="value" id="t-waiting">—</div></div>
  <div class="tile"><div class="label">开放窗口</div><div class="value" id="t-counters">—</div></div>
  <div class="tile"><div class="label">今日取号 / 已办</div><div class="value" id="t-tickets">—</div></div>
  <div class="tile"><div class="label">预约 到场 / 爽约</div><div class="value" id="t-appointments">—</div></div>
  <div class="tile"><div class="label">今日收件</div><div class="value" id="t-received">—</div></div>
  <div class="tile"><div class="label">今日办结</div><div class="value" id="t-decided">—</div></div>
  <div class="tile good"><div class="label">秒批</div><div class="value" id="t-instant">—</div></div>
  <div class="tile good"><div class="label">按时办结率</div><div class="value" id="t-ontime">—</div></div>
  <div class="tile warn"><div class="label">临期预警</div><div class="value" id="t-warned">—</div></div>
  <div class="tile bad"><div class="label">逾期在办</div><div class="value" id="t-overdue">—</div></div>
  <div class="tile good"><div class="label">今日好评率</div><div class="value" id="t-goodrate">—</div></div>
  <div class="tile bad"><div class="label">差评待整改</div><div class="value" id="t-badopen">—</div></div>
</section>
<main>
  <section>
    <h2>各服务大厅</h2>
    <table><thead><tr><th>大厅</th><th>等候</th><th>最长等候</th><th>开放窗口</th><th>今日取号</th>
      <th>近一小时</th><th>预约到场</th><th>爽约</th></tr></thead><tbody id="halls"></tbody></table>
    <h2 style="margin-top:1.2vw">全市每小时取号</h2>
    <div id="hours"></div>
  </section>
  <section>
    <h2>各部门办件（今日）与好差评</h2>
    <table><thead><tr><th>部门</th><th>收件</th><th>办结</th><th>秒批</th><th>按时率</th><th>预警</th>
      <th>逾期</th><th>评价</th><th>差评</th><th>待整改</th></tr></thead><tbody id="departments"></tbody></table>
  </section>
</main>
<footer>数据实时推送 · <span id="status">连接中</span></footer>
<script>
const base = __BASE__;
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get("token")) {
  sessionStorage.setItem("tongban.dashboard.token", fragment.get("token"));
  history.replaceState(null, "", location.pathname + location.search);   // the token leaves the address bar
}
const token = sessionStorage.getItem("tongban.dashboard.token");

function $(id) { return document.getElementById(id); }
function set(id, value) { $(id).textContent = value; }
function pct(x) { return x === null || x === undefined ? "—" : (Math.round(x * 1000) / 10) + "%"; }
function minutes(s) {
  if (s === null || s === undefined) return "—";
  return s < 60 ? "<1 分" : Math.round(s / 60) + " 分";
}
function cell(text, cls) { const td = document.createElement("td"); td.textContent = text;
  if (cls) td.className = cls; return td; }
function row(attr, id, cells) {
  const tr = document.createElement("tr"); tr.setAttribute(attr, id);
  cells.forEach(([cls, text, tone]) => { const td = cell(text, tone); td.classList.add(cls); tr.append(td); });
  return tr;
}
function render(d) {
  const t = d.totals;
  set("clock", d.day + " " + new Date(d.at).toLocaleTimeString("zh-CN", {hour12: false, timeZone: "Asia/Shanghai"}));
  set("t-waiting", t.waiting); set("t-counters", t.counters_open); set("t-tickets", t.tickets + " / " + t.served);
  set("t-appointments", t.appointments_kept + " / " + t.appointments_missed);
  set("t-received", t.received); set("t-decided", t.decided); set("t-instant", t.instant);
  set("t-ontime", pct(t.on_time_rate)); set("t-warned", t.warned); set("t-overdue", t.overdue);
  set("t-goodrate", pct(t.good_rate)); set("t-badopen", t.bad_open);
  $("halls").replaceChildren(...d.halls.map(h => {
    const tr = row("data-hall", h.hall_id, [
      ["name", h.open ? h.name : h.name + "（休息）"],
      ["waiting", h.waiting, h.waiting >= 30 ? "hot" : h.waiting >= 10 ? "warm" : ""],
      ["longest", minutes(h.longest_wait_seconds),
       h.longest_wait_seconds >= 1800 ? "hot" : h.longest_wait_seconds >= 900 ? "warm" : ""],
      ["counters", h.counters_open], ["tickets", h.tickets], ["last-hour", h.tickets_last_hour],
      ["kept", h.appointments_kept], ["missed", h.appointments_missed, h.appointments_missed ? "warm" : ""]]);
    if (!h.open) tr.classList.add("closed");
    return tr;
  }));
  $("departments").replaceChildren(...d.departments.map(x => row("data-department", x.department, [
    ["name", x.department || "（未注明部门）"], ["received", x.received], ["decided", x.decided],
    ["instant", x.instant], ["on-time", pct(x.on_time_rate), x.on_time_rate !== null && x.on_time_rate < 0.95 ? "warm" : ""],
    ["warned", x.warned, x.warned ? "warm" : ""], ["overdue", x.overdue, x.overdue ? "hot" : ""],
    ["ratings", x.ratings], ["bad", x.bad, x.bad ? "warm" : ""], ["bad-open", x.bad_open, x.bad_open ? "hot" : ""]])));
  const top = Math.max(1, ...d.tickets_per_hour.map(h => h.tickets));
  $("hours").replaceChildren(...d.tickets_per_hour.map(h => {
    const bar = document.createElement("div"); bar.className = "bar"; bar.dataset.hour = h.hour;
    bar.style.height = (100 * h.tickets / top) + "%";
    const n = document.createElement("b"); n.textContent = h.tickets;
    const label = document.createElement("span"); label.textContent = h.hour + "时";
    bar.append(n, label); return bar;
  }));
}
function fail(text) { set("status", text); $("status").className = "error"; }
// EventSource cannot send a token: the stream is read with fetch, and its events parsed here.
async function follow() {
  const r = await fetch(base + "/dashboard/events", {headers: {"Authorization": "Bearer " + token},
                                                     cache: "no-store"});
  if (r.status === 401 || r.status === 403) { fail("令牌无效或无权查看 (" + r.status + ")"); return false; }
  if (!r.ok || !r.body) throw new Error(String(r.status));
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return true;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\\n\\n")) >= 0) {
      const block = buffer.slice(0, end); buffer = buffer.slice(end + 2);
      const lines = block.split("\\n");
      const kind = (lines.find(l => l.startsWith("event: ")) || "").slice(7);
      const data = lines.filter(l => l.startsWith("data: ")).map(l => l.slice(6)).join("\\n");
      if (kind === "figures") {
        render(JSON.parse(data));
        set("status", "实时 · 更新于 " + new Date().toLocaleTimeString("zh-CN", {hour12: false, timeZone: "Asia/Shanghai"}));
        $("status").className = "live";
      }
    }
  }
}
async function run() {
  if (!token) { fail("缺少令牌：请以 #token=… 打开本页"); return; }
  for (;;) {
    try {
      if (await follow() === false) return;     // refused: retrying would not help
    } catch (e) { /* the network or the service went away: reconnect */ }
    fail("连接中断，重连中");
    await new Promise(resolve => setTimeout(resolve, 3000));
  }
}
run();
</script>
</body>
</html>
"""


def dashboard_page(base: str) -> str:
    """The dashboard page; `base` is the service's URL prefix."""
    return _PAGE.replace("__BASE__", json.dumps(base))
