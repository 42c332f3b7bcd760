"""svc-cases keeps its read copy of the catalogue from svc-catalog's events, exactly once."""

import json
import uuid

import pytest
from sqlalchemy import func, select

from tongban.cases.catalog_copy.models import CatalogItem
from tongban.cases.db import platform
from tongban.cases.main import SERVICE as CASES
from tongban.catalog.main import SERVICE as CATALOG
from tongban.shared.contracts.catalog import ITEM_PUBLISHED, ItemPublishedV1
from tongban.shared.events import bus
from tongban.shared.events.envelope import make_event
from tongban.shared.testing.plugin import running_service, wait_for

pytestmark = pytest.mark.usefixtures("clean_nats")


def item(code: str) -> dict:
    return {"basic_code": code, "name": f"事项 {code}", "exercise_level": 4, "case_type": "immediate"}


async def count(client, stmt):
    async with client.app.state.sessionmaker() as s:
        return (await s.execute(stmt)).scalar()


async def test_published_items_reach_the_read_copy(infra, token_issuer):
    admin = {"Authorization": "Bearer " + token_issuer.mint("admin", "catalog:write", ["catalog"])}
    async with running_service(CATALOG, infra, token_issuer) as catalog, \
            running_service(CASES, infra, token_issuer) as cases:
        for i in range(5):
            r = await catalog.post("/api/v1/catalog/items", json=item(f"4420200001{i:02d}"), headers=admin)
            assert r.status_code == 201

        async def all_there():
            page = (await cases.get("/api/v1/cases/items")).json()
            return page if page["total"] == 5 else None

        page = await wait_for(all_there)
        assert {i["basic_code"] for i in page["items"]} == {f"4420200001{i:02d}" for i in range(5)}
        assert await count(cases, select(func.max(CatalogItem.applied_events))) == 1


async def publish_raw(infra, subject: str, payload: bytes, msg_id: str) -> None:
    nc = await bus.connect(infra.nats.url, "test-publisher")
    await bus.ensure_stream(nc.jetstream(), "catalog")
    await nc.jetstream().publish(subject, payload, headers={"Nats-Msg-Id": msg_id})
    await nc.close()


async def test_redelivered_event_is_applied_once_and_poison_goes_to_dead_letters(infra, token_issuer):
    data = ItemPublishedV1(item_id=uuid.uuid4(), basic_code="442020000200", name="x", item_type="20", version=1,
                           case_type="immediate")
    event = make_event("catalog", ITEM_PUBLISHED, data, subject=str(data.item_id))
    raw = event.model_dump_json().encode()
    async with running_service(CASES, infra, token_issuer) as cases:
        # The same event three times under different message ids: JetStream's dedup cannot help,
        # only the inbox can.
        for n in range(3):
            await publish_raw(infra, ITEM_PUBLISHED, raw, f"{event.id}-{n}")
        await publish_raw(infra, ITEM_PUBLISHED, b"{not json", "poison-1")
        bad = json.loads(raw)
        bad["id"] = str(uuid.uuid4())
        bad["data"]["version"] = "not a number"
        await publish_raw(infra, ITEM_PUBLISHED, json.dumps(bad).encode(), "poison-2")

        dead = platform.dead_letter
        await wait_for(lambda: count(cases, select(func.count()).select_from(dead)), timeout=10)
        await wait_for(lambda: _equals(count(cases, select(func.count()).select_from(dead)), 2))
        consumer = cases.app.state.runtime.consumers[0]
        await wait_for(lambda: _is(consumer.handled >= 3))
        assert await count(cases, select(CatalogItem.applied_events)) == 1
        assert await count(cases, select(func.count()).select_from(platform.inbox)) == 1


async def _equals(awaitable, expected):
    return (await awaitable) == expected


async def _is(value):
    return value
