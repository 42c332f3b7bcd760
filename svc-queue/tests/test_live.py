"""Live hall state, SSE across replicas, the display board in a real browser, nearest halls, statistics."""

import asyncio
import datetime as dt
import json
import tempfile

import httpx

from sqlalchemy import select

from queue_helpers import BASE, YOUNG_ID, Chromium, Tokens, make_counter, make_hall, open_today, serve_http
from tongban.queue.db import platform
from tongban.queue.main import SERVICE
from tongban.queue.main import _sweep as sweep_and_publish
from tongban.shared.testing.plugin import running_service


async def next_event(lines, kind: str) -> dict:
    """Read SSE lines until an event of `kind`; its data."""
    current = None
    async for line in lines:
        if line.startswith("event: "):
            current = line[7:]
        elif line.startswith("data: ") and current == kind:
            return json.loads(line[6:])
    raise AssertionError("stream ended")


async def test_a_call_on_one_replica_reaches_sse_clients_of_another(infra, token_issuer, clean_nats):
    tokens = Tokens(token_issuer)
    url = infra.fresh_database(SERVICE)
    async with running_service(SERVICE, infra, token_issuer, database_url=url, run_worker=False) as a, \
            running_service(SERVICE, infra, token_issuer, database_url=url, run_worker=False) as b:
        hall = await make_hall(b, tokens)
        counter, clerk = await make_counter(b, tokens, hall["id"], "3", [{"category": "A"}])
        await b.post(f"{BASE}/halls/{hall['id']}/tickets", headers=clerk, json={"category": "A"})
        async with serve_http(a.app) as base, httpx.AsyncClient(headers={"Accept-Language": "en"}, base_url=base, timeout=10) as http, \
                http.stream("GET", f"{BASE}/halls/{hall['id']}/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            snapshot = await asyncio.wait_for(next_event(lines, "snapshot"), 10)
            assert snapshot["categories"][0]["waiting"] == 1
            r = await b.post(f"{BASE}/counters/{counter['id']}/call-next", headers=clerk)
            assert r.status_code == 200
            called = await asyncio.wait_for(next_event(lines, "called"), 10)
            assert called["number"] == "A001" and called["counter_number"] == "3"
            assert "id_number" not in called and "person_sub" not in called


async def test_display_board_shows_a_call_live_in_headless_chromium(client, tokens):
    hall = await make_hall(client, tokens, name="中山市民服务中心 <b>board</b>")
    counter, clerk = await make_counter(client, tokens, hall["id"], "5", [{"category": "A"}])
    await client.post(f"{BASE}/halls/{hall['id']}/tickets", headers=clerk, json={"category": "A"})
    page = await client.get(f"{BASE}/halls/{hall['id']}/board")
    assert page.status_code == 200 and "&lt;b&gt;board&lt;/b&gt;" in page.text
    async with serve_http(client.app) as base:
        with tempfile.TemporaryDirectory() as profile:
            browser = await asyncio.to_thread(Chromium, profile)
            try:
                tab = await asyncio.to_thread(browser.open, f"{base}{BASE}/halls/{hall['id']}/board")
                await asyncio.to_thread(browser.wait_for, tab, "document.getElementById('connection').textContent",
                                        "live")
                waiting = "document.getElementById('waiting').textContent"
                await asyncio.to_thread(browser.wait_for, tab, waiting, "A 综合: 1B 深中通办: 0C 企业开办: 0")
                latest = "document.getElementById('latest-number').textContent"
                assert await asyncio.to_thread(browser.evaluate, tab, latest) == "—"
                r = await client.post(f"{BASE}/counters/{counter['id']}/call-next", headers=clerk)
                assert r.json()["number"] == "A001"
                await asyncio.to_thread(browser.wait_for, tab, latest, "A001")
                counter_text = await asyncio.to_thread(
                    browser.evaluate, tab, "document.getElementById('latest-counter').textContent")
                assert counter_text == "请到 5 号窗口"
                await asyncio.to_thread(browser.wait_for, tab, waiting, "A 综合: 0B 深中通办: 0C 企业开办: 0")
                await client.post(f"{BASE}/halls/{hall['id']}/tickets", headers=clerk, json={"category": "B"})
                await asyncio.to_thread(browser.wait_for, tab, waiting, "A 综合: 0B 深中通办: 1C 企业开办: 0")
            finally:
                await asyncio.to_thread(browser.close)


async def test_live_state_counts_waiting_and_shows_counters(client, tokens):
    hall = await make_hall(client, tokens)
    h = hall["id"]
    counter, clerk = await make_counter(client, tokens, h, "1", [{"category": "A"}])
    for _ in range(3):
        await client.post(f"{BASE}/halls/{h}/tickets", headers=clerk, json={"category": "A"})
    await client.post(f"{BASE}/counters/{counter['id']}/call-next", headers=clerk)
    await client.post(f"{BASE}/counters/{counter['id']}/call-next", headers=clerk)  # first one served
    live = (await client.get(f"{BASE}/halls/{h}/live")).json()
    a = next(c for c in live["categories"] if c["code"] == "A")
    assert a["waiting"] == 1 and a["estimated_wait_seconds"] is not None
    assert live["counters"][0]["current_number"] == "A002" and live["counters"][0]["current_status"] == "called"
    # While no open counter serves the category there is no honest estimate.
    await client.post(f"{BASE}/counters/{counter['id']}/pause", headers=clerk)
    paused = (await client.get(f"{BASE}/halls/{h}/live")).json()
    assert next(c for c in paused["categories"] if c["code"] == "A")["estimated_wait_seconds"] is None
    assert [c["number"] for c in live["recent_calls"]] == ["A002", "A001"]


async def test_nearest_open_halls_ranked_with_reasons(client, tokens):
    await open_today(client, tokens)
    near = await make_hall(client, tokens, name="东区", lat=22.520, lng=113.390)
    far = await make_hall(client, tokens, name="小榄", lat=22.670, lng=113.250)
    closed = await make_hall(client, tokens, name="关门的", lat=22.521, lng=113.391)
    now = dt.datetime.now(dt.UTC)
    await client.post(f"{BASE}/halls/{closed['id']}/closures", headers=tokens.admin(), json={
        "starts_at": (now - dt.timedelta(hours=1)).isoformat(), "ends_at": (now + dt.timedelta(hours=1)).isoformat(),
        "reason": "maintenance"})
    for h in (near, far):
        await make_counter(client, tokens, h["id"], "1", [{"category": "A"}])
    r = await client.get(f"{BASE}/nearest-halls", params={"latitude": 22.5176, "longitude": 113.3926})
    ranked = r.json()["items"]
    assert [x["name"] for x in ranked] == ["东区", "小榄"]
    assert 0 < ranked[0]["distance_km"] < 1 and 20 < ranked[1]["distance_km"] < 30
    assert "km" in ranked[0]["reason"] and "waiting" in ranked[0]["reason"]
    bad = await client.get(f"{BASE}/nearest-halls", params={"latitude": 95, "longitude": 113})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "latitude"
    # An item only a specialised counter names: only the hall with that counter (or comprehensive ones).
    specialised = await client.get(f"{BASE}/nearest-halls", params={"latitude": 22.5, "longitude": 113.4,
                                                                    "item_code": "442020000100"})
    assert {x["name"] for x in specialised.json()["items"]} == {"东区", "小榄"}  # both comprehensive


async def test_statistics_per_hall_and_city_roll_up(client, tokens):
    await open_today(client, tokens)
    halls = [await make_hall(client, tokens, name=n) for n in ("甲", "乙")]
    for hall, served in zip(halls, (2, 1)):
        counter, clerk = await make_counter(client, tokens, hall["id"], "1", [{"category": "A"}])
        for _ in range(served + 1):
            await client.post(f"{BASE}/halls/{hall['id']}/tickets", headers=clerk, json={"category": "A"})
        for _ in range(served):
            await client.post(f"{BASE}/counters/{counter['id']}/call-next", headers=clerk)
        await client.post(f"{BASE}/counters/{counter['id']}/finish", headers=clerk)
    mine = await client.post(f"{BASE}/halls/{halls[0]['id']}/tickets", headers=tokens.citizen(YOUNG_ID),
                             json={"category": "A"})
    assert mine.status_code == 201
    one = (await client.get(f"{BASE}/halls/{halls[0]['id']}/stats", headers=tokens.admin())).json()
    assert one["tickets"] == 4 and one["served"] == 2 and one["average_wait_seconds"] is not None
    city = (await client.get(f"{BASE}/stats", headers=tokens.admin())).json()
    assert city["halls"] == 2 and city["tickets"] == 4 + 2 and city["served"] == 3
    assert city["average_service_seconds"] is not None and city["missed_appointments"] == 0

    # Dashboards get each hall's figures as events (the worker's minute task), again only when they changed.
    async def publish() -> list[dict]:
        await sweep_and_publish(client.app.state.sessionmaker)
        async with client.app.state.sessionmaker() as s:
            return (await s.execute(select(platform.outbox.c.envelope).where(
                platform.outbox.c.subject == "queue.hall.stats_updated").order_by(platform.outbox.c.created_at))
            ).scalars().all()

    first = await publish()
    assert {(e["data"]["hall_id"], e["data"]["tickets"], e["data"]["waiting"]) for e in first} == {
        (halls[0]["id"], 4, 2), (halls[1]["id"], 2, 1)}
    assert len(await publish()) == 2  # nothing changed: nothing sent
    await client.post(f"{BASE}/halls/{halls[1]['id']}/tickets", headers=tokens.citizen(YOUNG_ID),
                      json={"category": "A"})
    latest = (await publish())[2:]
    assert [(e["data"]["hall_id"], e["data"]["tickets"]) for e in latest] == [(halls[1]["id"], 3)]
    assert (await client.get(f"{BASE}/stats", headers=tokens.citizen())).status_code == 403
    clerk_other = tokens.clerk(halls[1]["id"])
    assert (await client.get(f"{BASE}/halls/{halls[0]['id']}/stats", headers=clerk_other)).status_code == 403
