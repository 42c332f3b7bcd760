"""Required materials: a submission (not a draft) brings every material the implementation or item
marks required; a missing 容缺 material makes the case one to accept with gaps; bundles are held
to their deduplicated list, each child getting the materials its item asks for."""

import uuid

from tongban.cases.bundle import service as bundles
from tongban.cases.catalog_copy import service as catalog_copy
from tongban.cases.main import SERVICE
from tongban.shared.contracts.catalog import BundlePublishedV1, ImplementationPublishedV1
from tongban.shared.testing.plugin import running_service

ITEM = "442020000900"
PDF = b"%PDF-1.7\n" + b"x" * 100
HUKOU = {"name": "居民户口簿", "required": True, "licence_type_code": "11100000000019211T002"}
PHOTO = {"name": "近期免冠彩色照片", "required": True, "accept_with_gaps": True}
OPTIONAL = {"name": "情况说明", "required": False}


async def doc(client, headers) -> str:
    r = await client.post("/api/v1/cases/documents", params={"filename": "scan.pdf"}, content=PDF,
                          headers=dict(headers) | {"Content-Type": "application/pdf"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def apply(session_owner, event_apply, data) -> None:
    async with session_owner.app.state.sessionmaker() as session, session.begin():
        await event_apply(session, data)


async def test_required_materials_and_gaps(infra, token_issuer, tokens, kit):
    async with running_service(SERVICE, infra, token_issuer) as client:
        await kit.publish_item(client, materials=[HUKOU, PHOTO, OPTIONAL])
        await client.post(f"/api/v1/cases/item-configs/{ITEM}/approval-rules", headers=tokens.admin(),
                          json={"conditions": [{"field": "applicant.age", "op": "gte", "value": 18}]})
        me = tokens.citizen()
        cases = "/api/v1/cases/cases"

        r = await client.post(cases, headers=me, json={"basic_code": ITEM})
        assert r.status_code == 422 and r.json()["code"] == "materials_missing", r.text
        assert [(e["field"], e["material"]) for e in r.json()["errors"]] == [("materials", "居民户口簿")]
        assert (await client.get(cases, headers=me)).json()["total"] == 0   # nothing half-written

        # every material given (the 户口簿 as an upload of the paper): instant approval as before
        r = await client.post(cases, headers=me, json={"basic_code": ITEM, "materials": [
            {"name": "居民户口簿", "document_id": await doc(client, me)},
            {"name": "近期免冠 彩色照片", "document_id": await doc(client, me)}]})
        assert r.status_code == 201 and r.json()["state"] == "approved" and r.json()["missing_materials"] is None

        # the 容缺 photo missing: submitted, but never approved instantly (a clerk accepts with gaps)
        r = await client.post(cases, headers=me, json={"basic_code": ITEM, "materials": [
            {"name": "居民户口簿", "document_id": await doc(client, me)}]})
        assert (r.status_code, r.json()["state"], r.json()["missing_materials"]) == (
            201, "submitted", ["近期免冠彩色照片"])

        # a partner city's forwarded case carries no materials: its counter took them
        interop = {"Authorization": "Bearer " + token_issuer.mint(
            "service", "cases:read cases:forward", ["cases"], sub="service:interop", service="interop"),
            "Idempotency-Key": "fwd-1"}
        r = await client.post("/api/v1/cases/forwarded-cases", headers=interop, json={
            "partner_region": "440300", "partner_case_number": "4403002026112900001", "basic_code": ITEM,
            "form_data": {}, "applicant": {"type": "person", "id_number": kit.ADULT, "name": "王五"}})
        assert r.status_code == 201 and r.json()["missing_materials"] is None, r.text

        # a draft is not held to the list; its submission is
        draft = (await client.post(cases, headers=me, json={"basic_code": ITEM, "draft": True})).json()
        r = await client.post(f"{cases}/{draft['id']}/submit", json={}, headers=me)
        assert r.status_code == 422 and r.json()["errors"][0]["material"] == "居民户口簿"
        r = await client.post(f"{cases}/{draft['id']}/materials", headers=me, json={
            "materials": [{"name": "居民户口簿", "document_id": await doc(client, me)}]})
        assert r.status_code == 200, r.text
        r = await client.post(f"{cases}/{draft['id']}/submit", json={}, headers=me)
        case = r.json()
        # the photo (容缺) is missing: submitted, not instantly approved, only accepted with gaps
        assert (r.status_code, case["state"], case["missing_materials"]) == (200, "submitted", ["近期免冠彩色照片"])
        url = f"{cases}/{case['id']}"
        r = await client.post(f"{url}/accept", json={}, headers=tokens.clerk())
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "gaps"
        assert "近期免冠彩色照片" in r.json()["detail"]
        r = await client.post(f"{url}/accept", headers=tokens.clerk(), json={
            "gaps": ["近期免冠彩色照片"], "gaps_due_on": case["deadline_on"]})
        assert r.status_code == 200 and r.json()["state"] == "accepted", r.text
        r = await client.post(f"{url}/fulfil_gaps", json={}, headers=me)
        assert r.status_code == 422 and r.json()["code"] == "materials_missing"
        r = await client.post(f"{url}/materials", headers=me, json={
            "materials": [{"name": "近期免冠彩色照片", "document_id": await doc(client, me)}]})
        assert r.status_code == 200 and r.json()["missing_materials"] is None
        r = await client.post(f"{url}/fulfil_gaps", json={}, headers=me)
        assert r.status_code == 200 and r.json()["gaps"] is None

        # a counter submission: the clerk uploads the walk-in applicant's papers
        clerk = tokens.clerk()
        r = await client.post(cases, headers=clerk, json={
            "basic_code": ITEM, "applicant": {"type": "person", "id": kit.OTHER_ADULT, "name": "李四"},
            "materials": [{"name": "居民户口簿", "document_id": await doc(client, clerk)}]})
        assert r.status_code == 201 and r.json()["missing_materials"] == ["近期免冠彩色照片"], r.text

        # the city's implementation has its own list: it applies instead of the item's
        await apply(client, catalog_copy.apply_implementation_published, ImplementationPublishedV1(
            implementation_id=uuid.uuid4(), code=kit.DEPT + "4" + ITEM, item_id=uuid.uuid4(), basic_code=ITEM,
            city_code="442000", version=1, record={"implementing_body_credit_code": kit.DEPT, "materials": [
                {"name": "退役证", "required": True}]}))
        r = await client.post(cases, headers=me, json={"basic_code": ITEM})
        assert r.status_code == 422 and r.json()["errors"][0]["material"] == "退役证"
        r = await client.post(cases, headers=me, json={"basic_code": ITEM, "materials": [
            {"name": "退役证", "document_id": await doc(client, me)}]})
        assert r.status_code == 201 and r.json()["state"] == "approved"


async def test_bundle_takes_its_deduplicated_list(infra, token_issuer, tokens, kit):
    first, second = "442020000910", "442020000911"
    async with running_service(SERVICE, infra, token_issuer) as client:
        await kit.publish_item(client, first, name="出生医学证明", materials=[HUKOU])
        await kit.publish_item(client, second, name="户口登记", department=kit.OTHER_DEPT,
                               materials=[HUKOU, PHOTO, {"name": "出生医学证明", "required": True}])
        merged = [HUKOU | {"for_items": [first, second]}, PHOTO | {"for_items": [second]}]
        # the birth certificate is produced by the first item: the bundle's list does not ask for it
        await apply(client, bundles.apply_bundle_published, BundlePublishedV1(
            bundle_id=uuid.uuid4(), code="YJS-CS", name="出生一件事", version=1, item_codes=[first, second],
            city_code="442000", record={"merged": {"materials": merged}}))
        me = tokens.citizen()
        r = await client.post("/api/v1/cases/bundle-cases", headers=me, json={"bundle_code": "YJS-CS"})
        assert r.status_code == 422 and r.json()["errors"][0]["material"] == "居民户口簿"

        hukou = await doc(client, me)
        r = await client.post("/api/v1/cases/bundle-cases", headers=me, json={
            "bundle_code": "YJS-CS", "materials": [{"name": "居民户口簿", "document_id": hukou}]})
        assert r.status_code == 201, r.text
        children = {c["basic_code"]: c for c in r.json()["children"]}
        assert children[first]["missing_materials"] is None
        assert children[second]["missing_materials"] == ["近期免冠彩色照片"]
        for code in (first, second):  # both children list the one document
            listed = (await client.get(f"/api/v1/cases/cases/{children[code]['id']}/materials",
                                       headers=tokens.clerk())).json()["items"]
            assert [(m["name"], m["document_id"]) for m in listed] == [("居民户口簿", hukou)]
        # each handling department reads it through its own child
        for dept in (kit.DEPT, kit.OTHER_DEPT):
            r = await client.get(f"/api/v1/cases/documents/{hukou}", headers=tokens.approver(dept))
            assert r.status_code == 200
