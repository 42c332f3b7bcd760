import uuid

import pytest

from tongban.catalog.main import SERVICE
from tongban.shared.testing.plugin import running_service

pytestmark = pytest.mark.usefixtures("clean_nats")

ITEM = {"basic_code": "440120000100", "name": "建设工程规划许可证核发", "exercise_level": 3,
        "case_type": "promised", "statutory_limit": 20, "statutory_limit_unit": "working_day",
        "promised_limit": 10, "promised_limit_unit": "working_day"}


@pytest.fixture
async def client(infra, token_issuer):
    async with running_service(SERVICE, infra, token_issuer, run_worker=False) as c:
        yield c


def admin(token_issuer):
    return {"Authorization": "Bearer " + token_issuer.mint("admin", "catalog:read catalog:write", ["catalog"])}


async def test_publish_writes_item_event_and_audit_together(client, token_issuer):
    r = await client.post("/api/v1/catalog/items", json=ITEM, headers=admin(token_issuer))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["item_type"] == "01" and body["version"] == 1
    async with client.app.state.sessionmaker() as s:
        from sqlalchemy import select

        from tongban.catalog.db import platform
        rows = (await s.execute(select(platform.outbox.c.subject, platform.outbox.c.envelope))).all()
        audits = (await s.execute(select(platform.audit_event.c.action))).scalars().all()
    assert [r.subject for r in rows] == ["catalog.item.published"]
    assert rows[0].envelope["data"]["basic_code"] == "440120000100"
    assert audits == ["item.published"]


async def test_browsing_needs_no_login_and_is_paginated(client, token_issuer):
    for i in range(3):
        code = f"4401200001{i:02d}"
        r = await client.post("/api/v1/catalog/items", json={**ITEM, "basic_code": code}, headers=admin(token_issuer))
        assert r.status_code == 201
    page = (await client.get("/api/v1/catalog/items", params={"limit": 2})).json()
    assert page["total"] == 3 and len(page["items"]) == 2 and page["next_offset"] == 2
    last = (await client.get("/api/v1/catalog/items", params={"limit": 2, "offset": 2})).json()
    assert len(last["items"]) == 1 and last["next_offset"] is None
    one = await client.get(f"/api/v1/catalog/items/{last['items'][0]['id']}")
    assert one.status_code == 200
    missing = await client.get(f"/api/v1/catalog/items/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert (await client.get("/api/v1/catalog/items", params={"limit": 0})).status_code == 422


async def test_same_idempotency_key_gives_the_same_item(client, token_issuer):
    h = {**admin(token_issuer), "Idempotency-Key": "k-1"}
    a = await client.post("/api/v1/catalog/items", json=ITEM, headers=h)
    b = await client.post("/api/v1/catalog/items", json=ITEM, headers=h)
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] == b.json()["id"] and b.headers.get("idempotent-replayed") == "true"
    c = await client.post("/api/v1/catalog/items", json={**ITEM, "name": "other"}, headers=h)
    assert c.status_code == 422 and c.json()["code"] == "idempotency_key_reused"
    dup = await client.post("/api/v1/catalog/items", json=ITEM, headers=admin(token_issuer))
    assert dup.status_code == 409 and dup.json()["code"] == "basic_code_taken"


@pytest.mark.parametrize("patch, field", [
    ({"basic_code": "44012000010"}, "basic_code"),
    ({"basic_code": "441100000100"}, "basic_code"),      # item type 11 does not exist
    ({"basic_code": "44A120000100"}, "basic_code"),
    ({"exercise_level": 9}, "exercise_level"),
    ({"case_type": "whenever"}, "case_type"),
    ({"name": ""}, "name"),
    ({"promised_limit": 30}, "body"),                     # promised above statutory
    ({"unknown": 1}, "unknown"),
])
async def test_bad_items_are_refused_naming_the_field(client, token_issuer, patch, field):
    r = await client.post("/api/v1/catalog/items", json={**ITEM, **patch}, headers=admin(token_issuer))
    assert r.status_code == 422, r.text
    problem = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert any(e["field"] == field for e in problem["errors"]), problem
    assert (await client.get("/api/v1/catalog/items")).json()["total"] == 0


async def test_malformed_json_missing_fields_and_oversized_bodies(client, token_issuer):
    h = {**admin(token_issuer), "content-type": "application/json"}
    r = await client.post("/api/v1/catalog/items", content=b'{"basic_code": ', headers=h)
    assert r.status_code == 400 and r.json()["code"] == "malformed_json"
    r = await client.post("/api/v1/catalog/items", json={"name": "x"}, headers=h)
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} >= {"basic_code", "case_type"}
    r = await client.post("/api/v1/catalog/items", json={**ITEM, "exercise_level": "three"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "exercise_level"
    big = b'{"name": "' + b"x" * (11 * 1024 * 1024) + b'"}'
    r = await client.post("/api/v1/catalog/items", content=big, headers=h)
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"


async def test_auth_is_checked_by_the_service_itself(client, token_issuer):
    r = await client.post("/api/v1/catalog/items", json=ITEM)
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    citizen = token_issuer.mint("citizen", "catalog:read", ["catalog"])
    r = await client.post("/api/v1/catalog/items", json=ITEM, headers={"Authorization": f"Bearer {citizen}"})
    assert r.status_code == 403 and r.json()["code"] == "not_permitted"  # the policy: editing is for admins
    other_aud = token_issuer.mint("admin", "catalog:write", ["cases"])
    r = await client.post("/api/v1/catalog/items", json=ITEM, headers={"Authorization": f"Bearer {other_aud}"})
    assert r.status_code == 401
    r = await client.post("/api/v1/catalog/items", json=ITEM, headers={"Authorization": "Bearer not.a.token"})
    assert r.status_code == 401


def test_demo_items_carry_the_item_type_their_code_says():
    from tongban.catalog.item.schemas import ITEM_TYPES
    from tongban.catalog.seed import demo_items

    items = demo_items()
    assert {i.basic_code[:2] for i in items} == {"44"}
    assert {i.basic_code[2:4] for i in items} <= set(ITEM_TYPES)
    assert len({i.basic_code for i in items}) == len(items)
