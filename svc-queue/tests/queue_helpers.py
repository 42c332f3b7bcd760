"""Helpers for svc-queue's tests (imported by name: conftest puts this folder on sys.path)."""

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import uvicorn

from tongban.shared import clock
from tongban.shared.contracts.catalog import ITEM_PUBLISHED, ItemPublishedV1
from tongban.shared.events import bus
from tongban.shared.events.envelope import make_event
from tongban.shared.localinfra import free_port
from tongban.shared.testing.chromium import Chromium  # noqa: F401 - test_live imports it from here

BASE = "/api/v1/queue"
ALL_WEEK = {str(d): {"opens": "00:00", "closes": "23:59:59"} for d in range(1, 8)}
# Valid GB 11643 numbers: a person born in 1990, and one born in 1950 (elderly: green channel).
YOUNG_ID = "442000199001010011"
OLD_ID = "442000195001010013"


class Tokens:
    def __init__(self, issuer) -> None:
        self.issuer = issuer

    def admin(self) -> dict:
        return self._h("admin", "queue:admin audit:read", sub="admin-1")

    def clerk(self, hall_id, sub: str | None = None) -> dict:
        return self._h("clerk", "queue:operate", sub=sub or f"clerk-{uuid.uuid4().hex[:6]}", hall=str(hall_id))

    def citizen(self, id_number: str = YOUNG_ID, sub: str | None = None, level: str = "verified") -> dict:
        return self._h("citizen", "queue:book", sub=sub or f"citizen-{id_number}", id_number=id_number,
                       real_name_level=level)

    def _h(self, role: str, scopes: str, **claims) -> dict:
        return {"Authorization": "Bearer " + self.issuer.mint(role, scopes, ["queue"], **claims)}


def local_today() -> dt.date:
    return clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date()


async def open_today(client, tokens: Tokens) -> None:
    """Make today a working day whatever the calendar says (tests run on weekends too)."""
    r = await client.post(f"{BASE}/calendar-overrides", headers=tokens.admin(), json={
        "day": local_today().isoformat(), "is_working_day": True, "reason": "test day"})
    assert r.status_code == 201, r.text


async def make_hall(client, tokens: Tokens, name: str = "中山市民服务中心", lat: float = 22.5176,
                    lng: float = 113.3926, categories=(("A", "综合"), ("B", "深中通办"), ("C", "企业开办"))) -> dict:
    r = await client.post(f"{BASE}/halls", headers=tokens.admin(), json={
        "name": name, "region_code": "442000", "address": "中山市东区松苑路1号", "latitude": lat, "longitude": lng,
        "opening_hours": ALL_WEEK, "categories": [{"code": c, "name": n} for c, n in categories]})
    assert r.status_code == 201, r.text
    return r.json()


async def make_counter(client, tokens: Tokens, hall_id: str, number: str, skills: list[dict],
                       kind: str = "comprehensive", clerk: dict | None = None) -> tuple[dict, dict]:
    """A counter with a clerk signed in; returns (counter, clerk headers)."""
    r = await client.post(f"{BASE}/halls/{hall_id}/counters", headers=tokens.admin(),
                          json={"number": number, "kind": kind, "skills": skills})
    assert r.status_code == 201, r.text
    clerk = clerk or tokens.clerk(hall_id)
    s = await client.post(f"{BASE}/counters/{r.json()['id']}/sign-in", headers=clerk)
    assert s.status_code == 200, s.text
    return s.json(), clerk


async def publish_item(infra, code: str, name: str = "事项") -> None:
    """svc-catalog's event, as svc-catalog publishes it."""
    data = ItemPublishedV1(item_id=uuid.uuid4(), basic_code=code, name=name, item_type=code[2:4], version=1,
                           case_type="immediate")
    event = make_event("catalog", ITEM_PUBLISHED, data, subject=str(data.item_id))
    nc = await bus.connect(infra.nats.url, "test-catalog")
    await bus.ensure_stream(nc.jetstream(), "catalog")
    await nc.jetstream().publish(ITEM_PUBLISHED, event.model_dump_json().encode(), headers={"Nats-Msg-Id": str(event.id)})
    await nc.close()


@contextlib.asynccontextmanager
async def serve_http(app) -> AsyncIterator[str]:
    """The (already started) app under a real uvicorn server on a free port: for SSE and browsers,
    which need a real socket (httpx's ASGI transport buffers whole responses)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), lifespan="off", log_level="warning",
                            timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        await task


