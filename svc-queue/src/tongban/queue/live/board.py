"""The display board (叫号屏) a hall shows on its screens: a static page that follows the hall's
Server-Sent Events stream. It shows numbers and counters only, never a person."""

import html
import json
import uuid

_PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>__TITLE__ · 叫号</title>
<style>
  body { margin: 0; font-family: sans-serif; background: #0b2545; color: #fff; }
  header { padding: 1rem 2rem; font-size: 2rem; background: #13315c; }
  #latest { padding: 2rem; text-align: center; }
  #latest-number { font-size: 8rem; font-weight: bold; color: #ffd166; }
  #latest-counter { font-size: 3rem; }
  main { display: flex; gap: 2rem; padding: 0 2rem; }
  section { flex: 1; }
  li { font-size: 2rem; list-style: none; padding: .25rem 0; }
  #connection { position: fixed; right: 1rem; bottom: .5rem; font-size: .9rem; opacity: .6; }
</style>
</head>
<body data-hall="__HALL__">
<header>__TITLE__</header>
<div id="latest"><div id="latest-number">—</div><div id="latest-counter"></div></div>
<main>
  <section><h2>最近叫号 Recent calls</h2><ul id="calls"></ul></section>
  <section><h2>等候 Waiting</h2><ul id="waiting"></ul></section>
</main>
<div id="connection">connecting</div>
<script>
const hall = __HALL_JSON__;
const base = "__BASE__/halls/" + hall;
const calls = document.getElementById("calls");
const waiting = document.getElementById("waiting");

function text(el, value) { el.textContent = value; }
function showCall(number, counter) {
  text(document.getElementById("latest-number"), number);
  text(document.getElementById("latest-counter"), counter ? "请到 " + counter + " 号窗口" : "");
  const li = document.createElement("li");
  li.textContent = number + " → " + (counter || "");
  calls.prepend(li);
  while (calls.children.length > 10) calls.removeChild(calls.lastChild);
}
let categories = [];
function renderWaiting() {
  waiting.replaceChildren(...categories.map(c => {
    const li = document.createElement("li");
    li.textContent = c.code + " " + c.name + ": " + c.waiting;
    return li;
  }));
}
function render(state) {
  calls.replaceChildren();
  state.recent_calls.slice().reverse().forEach(c => showCall(c.number, c.counter_number));
  categories = state.categories;
  renderWaiting();
}
// Waiting counts follow the events themselves (no request per event: a hall has many screens).
function adjust(category, delta) {
  const c = categories.find(x => x.code === category);
  if (c) { c.waiting = Math.max(0, c.waiting + delta); renderWaiting(); }
}
function refresh() { fetch(base + "/live").then(r => r.json()).then(render).catch(() => {}); }

const events = new EventSource(base + "/events");
events.onopen = () => text(document.getElementById("connection"), "live");
events.onerror = () => text(document.getElementById("connection"), "reconnecting");
events.addEventListener("snapshot", e => render(JSON.parse(e.data)));
events.addEventListener("called", e => {
  const d = JSON.parse(e.data);
  showCall(d.number, d.counter_number);
  if (d.call_count === 1) adjust(d.category, -1);
});
events.addEventListener("issued", e => adjust(JSON.parse(e.data).category, +1));
events.addEventListener("cancelled", e => adjust(JSON.parse(e.data).category, -1));
events.addEventListener("transferred", refresh);
</script>
</body>
</html>
"""


def board_page(hall_id: uuid.UUID, hall_name: str, base: str) -> str:
    """The board page of one hall; `base` is the service's URL prefix."""
    return (_PAGE.replace("__TITLE__", html.escape(hall_name)).replace("__HALL_JSON__", json.dumps(str(hall_id)))
            .replace("__HALL__", str(hall_id)).replace("__BASE__", base))
