"""Items with their full elements through draft → published → retired, implementations with their
31-character codes, and bundles: what is written, what is announced, and what is refused."""

import pytest
from sqlalchemy import select

from tongban.catalog.db import platform
from tongban.catalog.main import SERVICE
from tongban.catalog.seed_data import LT, department_code
from tongban.shared.contracts.catalog import ItemPublishedV1, ItemRetiredV1
from tongban.shared.testing.plugin import running_service

from .conftest import admin_headers

pytestmark = pytest.mark.usefixtures("clean_nats")
API = "/api/v1/catalog"
CODE = "442020000501"
CREDIT = department_code("psb", "442000")
ENDORSEMENT = "11100000000019211T009"  # a licence type code of the right shape (synthetic)
WRONG_CHECK = "11100000000019211U001"  # the credit code's check character is T, not U
FULL = {
    "basic_code": CODE, "name": "港澳通行证签注", "aliases": ["港澳签注"], "exercise_level": 4, "case_type": "promised",
    "legal_basis": "《中国公民因私事往来香港地区或者澳门地区的暂行管理办法》", "implementing_body": "公安局出入境管理支队",
    "implementing_body_credit_code": CREDIT, "statutory_limit": 15, "statutory_limit_unit": "working_day",
    "promised_limit": 7, "promised_limit_unit": "working_day", "acceptance_conditions": ["持有效通行证"],
    "process_steps": [{"name": "申请"}, {"name": "办结", "description": "自助签注机即时打印"}],
    "fees": [{"name": "签注费", "amount": "15.00", "basis": "发改价格〔2017〕1186号"}],
    "service_objects": ["person"], "themes": ["出入境"], "life_events": ["出行"],
    "handling_forms": ["window", "self_service"], "visits": 1, "result_name": "签注", "result_licence_type": ENDORSEMENT,
    "consultation_phone": "0760-12345", "supervision_phone": "12345",
    "faq": [{"question": "可以自助签注吗？", "answer": "可以。"}],
    "materials": [{"name": "居民身份证", "issuer": "公安机关", "originals": 1, "licence_type_code": LT["RESIDENT-ID"]},
                  {"name": "往来港澳通行证", "originals": 1, "accept_with_gaps": True}],
    "flags": {"fully_online": False, "self_service": True, "instant_approval": True,
              "instant_approval_rule_id": "MP-20-501", "no_certificate": True, "cross_city": True},
    "form_schema": {"type": "object", "properties": {"applicant_name": {"type": "string"}}, "required": ["applicant_name"]},
}


def implementation(city="442000", credit=CREDIT, level="4", code=CODE, **patch):
    return {"code": credit + level + code, "city_code": city, "implementing_body": "中山市公安局",
            "promised_limit": 5, "promised_limit_unit": "working_day", "statutory_limit": 15,
            "statutory_limit_unit": "working_day", "handling_forms": ["window", "mobile"], "visits": 0,
            "online_depth": 4, "flags": {"fully_online": True}, "halls": ["中山市民服务中心"], **patch}


@pytest.fixture
async def client(infra, token_issuer):
    async with running_service(SERVICE, infra, token_issuer, run_worker=False) as c:
        yield c


async def events(client):
    async with client.app.state.sessionmaker() as s:
        return (await s.execute(select(platform.outbox.c.subject, platform.outbox.c.envelope)
                                .order_by(platform.outbox.c.created_at))).all()


async def test_full_item_lifecycle_with_versions_and_events(client, token_issuer):
    h = admin_headers(token_issuer)
    r = await client.post(f"{API}/items", json={**FULL, "publish": False}, headers=h)
    assert r.status_code == 201, r.text
    item = r.json()
    assert item["status"] == "draft" and item["version"] == 0 and item["flags"]["instant_approval_rule_id"]
    assert await events(client) == []
    assert (await client.get(f"{API}/items/{item['id']}")).status_code == 404         # drafts are not public
    assert (await client.get(f"{API}/items/{item['id']}", headers=h)).status_code == 200
    assert (await client.get(f"{API}/items", params={"status": "draft"})).status_code == 401

    r = await client.post(f"{API}/items/{item['id']}/publish", json={}, headers=h)
    assert r.status_code == 200 and r.json()["version"] == 1 and r.json()["status"] == "published"
    again = await client.post(f"{API}/items/{item['id']}/publish", json={}, headers=h)
    assert again.status_code == 409 and again.json()["code"] == "wrong_item_status"

    edit = {k: v for k, v in FULL.items() if k != "basic_code"} | {"promised_limit": 5, "reason": "提速",
                                                                   "result_licence_type": ENDORSEMENT.lower()}
    r = await client.put(f"{API}/items/{item['id']}", json=edit, headers=h)
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["promised_limit"] == 5
    assert r.json()["result_licence_type"] == ENDORSEMENT                            # stored upper-case

    r = await client.post(f"{API}/items/{item['id']}/retire", json={"reason": "并入其他事项"}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "retired"
    assert (await client.put(f"{API}/items/{item['id']}", json=edit, headers=h)).status_code == 409
    r = await client.post(f"{API}/items/{item['id']}/publish", json={"reason": "恢复"}, headers=h)
    assert r.json()["version"] == 3

    sent = await events(client)
    assert [s for s, _ in sent] == ["catalog.item.published"] * 2 + ["catalog.item.retired", "catalog.item.published"]
    v2 = ItemPublishedV1.model_validate(sent[1][1]["data"])
    assert v2.version == 2 and v2.promised_limit == 5 and v2.record["materials"][1]["accept_with_gaps"] is True
    retired = ItemRetiredV1.model_validate(sent[2][1]["data"])
    assert retired.reason == "并入其他事项" and retired.record["status"] == "retired"
    versions = (await client.get(f"{API}/items/{item['id']}/versions")).json()
    assert [v["version"] for v in versions["items"]] == [3, 2, 1] and versions["items"][1]["reason"] == "提速"
    async with client.app.state.sessionmaker() as s:
        actions = (await s.execute(select(platform.audit_event.c.action).order_by(platform.audit_event.c.id))).scalars().all()
    assert actions == ["item.drafted", "item.published", "item.republished", "item.retired", "item.published"]


@pytest.mark.parametrize("patch, field", [
    ({"statutory_limit_unit": None}, "statutory_limit_unit"),                      # a limit without its unit
    ({"promised_limit": None}, "promised_limit_unit"),                             # a unit without its limit
    ({"statutory_limit_unit": "fortnight"}, "statutory_limit_unit"),
    ({"implementing_body_credit_code": CREDIT[:-1] + ("0" if CREDIT[-1] != "0" else "1")}, "implementing_body_credit_code"),
    ({"service_objects": ["alien"]}, "service_objects.0"),
    ({"handling_forms": ["pigeon"]}, "handling_forms.0"),
    ({"flags": {"instant_approval": True}}, "flags"),                              # no rule id
    ({"flags": {"teleport": True}}, "flags.teleport"),
    ({"fees": [{"name": "x", "amount": "-1", "basis": "y"}]}, "fees.0.amount"),
    ({"fees": [{"name": "x", "amount": "1"}]}, "fees.0.basis"),
    ({"materials": [{"name": "a"}, {"name": "a"}]}, "materials"),
    ({"materials": [{"name": "a", "originals": -1}]}, "materials.0.originals"),
    ({"form_schema": {"type": "object", "properties": {"Bad Name": {}}}}, "form_schema"),
    ({"consultation_phone": "call me"}, "consultation_phone"),
    ({"result_licence_type": "HKMO-ENDORSE"}, "result_licence_type"),               # a symbolic key, not a code
    ({"result_licence_type": WRONG_CHECK}, "result_licence_type"),
    ({"result_licence_type": "11100000000019211T01"}, "result_licence_type"),       # 2 digits after the credit code
    ({"materials": [{"name": "居民身份证", "licence_type_code": "RESIDENT-ID"}]}, "materials.0.licence_type_code"),
    ({"materials": [{"name": "a"}, {"name": "b", "licence_type_code": WRONG_CHECK}]}, "materials.1.licence_type_code"),
])
async def test_bad_elements_are_refused_naming_the_field(client, token_issuer, patch, field):
    r = await client.post(f"{API}/items", json={**FULL, **patch}, headers=admin_headers(token_issuer))
    assert r.status_code == 422, r.text
    assert any(e["field"] == field for e in r.json()["errors"]), r.json()
    assert (await client.get(f"{API}/items")).json()["total"] == 0


async def test_implementation_codes_are_checked_against_the_item(client, token_issuer):
    h = admin_headers(token_issuer)
    item = (await client.post(f"{API}/items", json=FULL, headers=h)).json()
    url = f"{API}/items/{item['id']}/implementations"
    bad = [
        (implementation(credit=CREDIT[:-1] + ("0" if CREDIT[-1] != "0" else "1")), "code"),   # check character
        (implementation(level="9"), "code"),
        (implementation(code="442020000502"), "code"),            # another item's basic code
        (implementation(code="441120000501"), "code"),            # not a basic code at all
        (implementation(city="110000"), "city_code"),
        (implementation(online_depth=3), "body"),                  # fully_online needs depth 4
        (implementation(promised_limit_unit=None), "promised_limit_unit"),
        (implementation(materials=[{"name": "居民身份证", "licence_type_code": "RESIDENT-ID"}]),
         "materials.0.licence_type_code"),
    ]
    for body, field in bad:
        r = await client.post(url, json=body, headers=h)
        assert r.status_code == 422 and any(e["field"] == field for e in r.json()["errors"]), (body, r.text)
    r = await client.post(url, json=implementation(), headers={**h, "Idempotency-Key": "impl-1"})
    assert r.status_code == 201, r.text
    impl = r.json()
    assert impl["implementing_body_credit_code"] == CREDIT and impl["level"] == "4" and impl["basic_code"] == CODE
    replay = await client.post(url, json=implementation(), headers={**h, "Idempotency-Key": "impl-1"})
    assert replay.json()["id"] == impl["id"]
    dup = await client.post(url, json=implementation(), headers=h)
    assert dup.status_code == 409 and dup.json()["code"] == "implementation_exists"
    sz = implementation(city="440300", credit=department_code("psb", "440300"), visits=1, online_depth=3,
                        implementing_body="深圳市公安局",
                        flags={"fully_online": False, "instant_approval": True, "instant_approval_rule_id": "SZ-1"})
    assert (await client.post(url, json=sz, headers=h)).status_code == 201
    cmp = (await client.get(f"{API}/benchmark/items/{CODE}")).json()
    assert set(cmp["a_better"]) == {"visits", "online_depth"} and cmp["b_better"] == ["instant_approval"]
    found = (await client.get(f"{API}/search", params={"q": "深圳市公安局"})).json()
    assert [i["basic_code"] for i in found["items"]] == [CODE] and found["items"][0]["cities"] == ["440300", "442000"]
    assert [s for s, _ in await events(client)].count("catalog.implementation.published") == 2


async def test_bundles_refuse_unknown_and_retired_items(client, token_issuer):
    h = admin_headers(token_issuer)
    first = (await client.post(f"{API}/items", json=FULL, headers=h)).json()
    second = (await client.post(f"{API}/items", json={**FULL, "basic_code": "442020000502", "name": "港澳再次签注",
                                                      "fees": [{"name": "签注费", "amount": "15", "basis": "同上"}]},
                                headers=h)).json()
    body = {"code": "HKMO-ONE", "name": "港澳出行一件事", "item_codes": [CODE, "442020000502"]}
    r = await client.post(f"{API}/bundles", json={**body, "item_codes": [CODE, "442020000999"]}, headers=h)
    assert r.status_code == 422 and r.json()["errors"] == [
        {"field": "item_codes.1", "message": "no item 442020000999 in the catalogue"}]
    r = await client.post(f"{API}/bundles", json={**body, "item_codes": [CODE, CODE]}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "item_codes"
    await client.post(f"{API}/items/{second['id']}/retire", json={"reason": "停办"}, headers=h)
    r = await client.post(f"{API}/bundles", json=body, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "item_codes.1"
    assert "retired" in r.json()["errors"][0]["message"]
    await client.post(f"{API}/items/{second['id']}/publish", json={}, headers=h)
    r = await client.post(f"{API}/bundles", json=body, headers=h)
    assert r.status_code == 201, r.text
    merged = r.json()["merged"]
    assert merged["total_fee"] == "30.00" and [f["subtotal"] for f in merged["fees"]] == ["15.00", "15.00"]
    assert merged["total_promised"] == {"working_day": 14}
    assert [m["name"] for m in merged["materials"]] == ["居民身份证", "往来港澳通行证"]
    assert merged["materials"][0]["for_items"] == [CODE, "442020000502"]
    assert merged["form_schema"]["required"] == ["applicant_name"]
    assert (await client.post(f"{API}/bundles", json=body, headers=h)).status_code == 409
    assert first["id"] != second["id"]
    subjects = [s for s, _ in await events(client)]
    assert subjects[-1] == "catalog.bundle.published"


async def test_implementations_are_edited_as_new_versions_and_announced(client, token_issuer):
    h = admin_headers(token_issuer)
    item = (await client.post(f"{API}/items", json=FULL, headers=h)).json()
    impl = (await client.post(f"{API}/items/{item['id']}/implementations", json=implementation(), headers=h)).json()
    url = f"{API}/implementations/{impl['id']}"
    edit = {k: v for k, v in implementation().items() if k not in ("code", "city_code")}
    edit |= {"visits": 1, "halls": ["中山市民服务中心", "火炬开发区服务中心"], "implementing_body": "中山市公安局出入境支队"}
    assert (await client.put(url, json=edit)).status_code == 401
    bad = await client.put(url, json={**edit, "promised_limit_unit": None}, headers=h)
    assert bad.status_code == 422 and any(e["field"] == "promised_limit_unit" for e in bad.json()["errors"])
    bad = await client.put(url, json={**edit, "code": impl["code"]}, headers=h)       # the code never changes
    assert bad.status_code == 422
    r = await client.put(url, json={**edit, "expected_version": 1, "reason": "新增分中心"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.json()["visits"] == 1 and r.json()["code"] == impl["code"]
    stale = await client.put(url, json={**edit, "expected_version": 1}, headers=h)
    assert stale.status_code == 409 and stale.json()["code"] == "stale_version"
    assert (await client.put(f"{API}/implementations/{item['id']}", json=edit, headers=h)).status_code == 404
    found = (await client.get(f"{API}/search", params={"q": "出入境支队"})).json()   # the item's keys follow
    assert [i["basic_code"] for i in found["items"]] == [CODE]
    sent = [(s, e["data"]) for s, e in await events(client) if s == "catalog.implementation.published"]
    assert [d["version"] for _, d in sent] == [1, 2] and sent[1][1]["record"]["visits"] == 1
    async with client.app.state.sessionmaker() as s:
        last = (await s.execute(select(platform.audit_event.c.action)
                                .order_by(platform.audit_event.c.id.desc()).limit(1))).scalar_one()
    assert last == "implementation.republished"


async def test_bundles_are_republished_as_new_versions(client, token_issuer):
    h = admin_headers(token_issuer)
    await client.post(f"{API}/items", json=FULL, headers=h)
    second = (await client.post(f"{API}/items", json={**FULL, "basic_code": "442020000502", "name": "港澳再次签注"},
                                headers=h)).json()
    third = (await client.post(f"{API}/items", json={**FULL, "basic_code": "442020000503", "name": "台湾通行证签注"},
                               headers=h)).json()
    body = {"code": "HKMO-ONE", "name": "港澳出行一件事", "item_codes": [CODE, "442020000502"]}
    bundle = (await client.post(f"{API}/bundles", json=body, headers=h)).json()
    url = f"{API}/bundles/{bundle['id']}"
    edit = {"name": "港澳台出行一件事", "item_codes": [CODE, "442020000502", "442020000503"], "expected_version": 1}
    r = await client.put(url, json=edit, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.json()["code"] == "HKMO-ONE" and len(r.json()["merged"]["fees"]) == 3
    assert (await client.put(url, json=edit, headers=h)).json()["code"] == "stale_version"
    await client.post(f"{API}/items/{third['id']}/retire", json={"reason": "停办"}, headers=h)
    r = await client.put(url, json={**edit, "expected_version": 2}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "item_codes.2"
    assert (await client.put(url, json={**edit, "item_codes": [CODE]}, headers=h)).status_code == 422
    assert (await client.put(f"{API}/bundles/{second['id']}", json=edit, headers=h)).status_code == 404
    assert (await client.get(url)).json()["version"] == 2                            # refused edits changed nothing
    sent = [e["data"] for s, e in await events(client) if s == "catalog.bundle.published"]
    assert [d["version"] for d in sent] == [1, 2] and sent[1]["name"] == "港澳台出行一件事"


async def test_search_answers_follow_every_change(client, token_issuer):
    """Answers are cached per catalogue generation: a change is seen by the very next search."""
    h = admin_headers(token_issuer)
    item = (await client.post(f"{API}/items", json=FULL, headers=h)).json()
    first = (await client.get(f"{API}/search", params={"q": "港澳签注"})).json()
    assert [i["basic_code"] for i in first["items"]] == [CODE] and first["total_is_exact"] is True
    assert (await client.get(f"{API}/search", params={"q": "港澳签注"})).json() == first    # from the cache
    await client.post(f"{API}/items/{item['id']}/retire", json={"reason": "停办"}, headers=h)
    assert (await client.get(f"{API}/search", params={"q": "港澳签注"})).json()["items"] == []
    await client.post(f"{API}/items/{item['id']}/publish", json={}, headers=h)
    assert (await client.get(f"{API}/search", params={"q": "gaqz"})).json()["items"][0]["version"] == 2
    deep = await client.get(f"{API}/search", params={"q": "签注", "offset": 990, "limit": 20})
    assert deep.status_code == 422 and deep.json()["errors"][0]["field"] == "offset"


@pytest.mark.parametrize("rebuild_after", [2000, 0])
async def test_another_replicas_index_follows_every_change(client, infra, token_issuer, monkeypatch, rebuild_after):
    """A second replica on the same database: its index catches up with a change made through
    the first at its next search once its generation is read (here: every search), item by item
    or, past REBUILD_AFTER changed items, by a rebuild."""
    from tongban.catalog.search import cache, index

    monkeypatch.setattr(cache, "GENERATION_MAX_AGE", -1.0)
    monkeypatch.setattr(index, "REBUILD_AFTER", rebuild_after)
    url = client.app.state.settings.database_url
    async with running_service(SERVICE, infra, token_issuer, database_url=url, run_worker=False) as other:
        async def names(q):
            r = await other.get(f"{API}/search", params={"q": q})
            assert r.status_code == 200, r.text
            return [i["name"] for i in r.json()["items"]]

        assert index.of(other.app).ready and await names("港澳签注") == []
        h = admin_headers(token_issuer)
        item = (await client.post(f"{API}/items", json=FULL, headers=h)).json()
        assert await names("港澳签注") == ["港澳通行证签注"]
        assert await names("gatxzqz") == ["港澳通行证签注"]          # its initials
        await client.post(f"{API}/items/{item['id']}/retire", json={"reason": "停办"}, headers=h)
        assert await names("港澳签注") == []
        await client.post(f"{API}/items/{item['id']}/publish", json={}, headers=h)
        r = (await other.get(f"{API}/search", params={"q": "签注"})).json()
        assert [(i["name"], i["version"]) for i in r["items"]] == [("港澳通行证签注", 2)] and r["total"] == 1
        assert r["facets"]["city"] == {c: 1 for c in r["items"][0]["cities"]}
