"""One-thing bundles: one form, a child case per item in parallel, the parent's (partial) outcome."""

import uuid

from sqlalchemy import select

from tongban.cases.db import platform
from tongban.cases.main import SERVICE
from tongban.shared.contracts.catalog import BUNDLE_PUBLISHED, BundlePublishedV1
from tongban.shared.events import bus
from tongban.shared.events.envelope import make_event
from tongban.shared.testing.plugin import running_service, wait_for

BIRTH, HUKOU, INSURANCE = "442020000910", "442020000911", "442020000912"


async def test_bundle_children_run_in_parallel_and_the_parent_reports_a_partial_outcome(
        infra, token_issuer, tokens, kit, clean_nats):
    async with running_service(SERVICE, infra, token_issuer) as client:
        await kit.publish_item(client, BIRTH, name="出生医学证明")
        await kit.publish_item(client, HUKOU, name="户口登记", department=kit.OTHER_DEPT)
        await kit.publish_item(client, INSURANCE, name="城乡居民医保参保")
        await client.put(f"/api/v1/cases/item-configs/{HUKOU}", headers=tokens.admin(), json={
            "form_fields": [{"name": "child_name", "type": "string", "required": True}]})
        await client.post(f"/api/v1/cases/item-configs/{INSURANCE}/approval-rules", headers=tokens.admin(),
                          json={"conditions": [{"field": "applicant.age", "op": "gte", "value": 18}]})

        # The bundle arrives from svc-catalog's event.
        data = BundlePublishedV1(bundle_id=uuid.uuid4(), code="YJS-442000-CS", name="出生一件事", version=1,
                                 item_codes=[BIRTH, HUKOU, INSURANCE], city_code="442000")
        nc = await bus.connect(infra.nats.url, "test-publisher")
        await bus.ensure_stream(nc.jetstream(), "catalog")
        await nc.jetstream().publish(BUNDLE_PUBLISHED, make_event("catalog", BUNDLE_PUBLISHED, data)
                                     .model_dump_json().encode())
        await nc.close()
        body = {"bundle_code": "YJS-442000-CS", "form_data": {"child_name": "小明", "mother": "王芳"}}

        async def accepted():
            r = await client.post("/api/v1/cases/bundle-cases", json=body,
                                  headers=tokens.citizen() | {"Idempotency-Key": "b-1"})
            return r if r.status_code == 201 else None

        r = await wait_for(accepted)
        parent = r.json()
        children = {c["basic_code"]: c for c in parent["children"]}
        assert parent["state"] == "in_progress" and set(children) == {BIRTH, HUKOU, INSURANCE}
        assert children[HUKOU]["department"] == kit.OTHER_DEPT and children[BIRTH]["department"] == kit.DEPT
        assert children[HUKOU]["form_data"] == {"child_name": "小明"}   # each item keeps its own fields
        assert children[INSURANCE]["state"] == "approved"              # instant approval inside the bundle
        r = await client.post("/api/v1/cases/bundle-cases", json={"bundle_code": "nope"}, headers=tokens.citizen())
        assert r.status_code == 422

        # Each department works its own child at once.
        birth, hukou, insurance = children[BIRTH]["id"], children[HUKOU]["id"], children[INSURANCE]["id"]
        steps = [(birth, "accept", tokens.clerk()), (birth, "review", tokens.approver()),
                 (birth, "approve", tokens.approver()), (birth, "complete", tokens.clerk()),
                 (hukou, "accept", tokens.clerk()), (hukou, "review", tokens.approver(kit.OTHER_DEPT)),
                 (hukou, "deny", tokens.approver(kit.OTHER_DEPT), {"reason": "户籍地不符"}),
                 (insurance, "complete", tokens.clerk())]
        for cid, action, who, *extra in steps:
            r = await client.post(f"/api/v1/cases/cases/{cid}/{action}", json=extra[0] if extra else {}, headers=who)
            assert r.status_code == 200, r.text
            state = (await client.get(f"/api/v1/cases/bundle-cases/{parent['id']}", headers=tokens.citizen())).json()
            assert state["state"] == "in_progress"
        await client.post(f"/api/v1/cases/cases/{hukou}/complete", json={}, headers=tokens.clerk())

        done = (await client.get(f"/api/v1/cases/bundle-cases/{parent['id']}", headers=tokens.citizen())).json()
        assert done["state"] == "completed" and done["outcome"] == "partial"
        assert sorted(done["outcome_detail"]["approved"]) == [BIRTH, INSURANCE]
        assert [(x["basic_code"], x["decision"]) for x in done["outcome_detail"]["not_approved"]] == [(HUKOU, "denied")]
        assert (await client.get(f"/api/v1/cases/bundle-cases/{parent['id']}",
                                 headers=tokens.citizen(kit.OTHER_ADULT))).status_code == 404
        assert (await client.get("/api/v1/cases/bundle-cases", headers=tokens.citizen())).json()["total"] == 1

        # the bundle's own events: submitted with its children, completed with the outcome
        async with client.app.state.sessionmaker() as s:
            rows = (await s.execute(select(platform.outbox.c.subject, platform.outbox.c.envelope)
                                    .where(platform.outbox.c.subject.like("cases.bundle.%")))).all()
        events = {subject: envelope["data"] for subject, envelope in rows}
        assert len(events["cases.bundle.submitted"]["child_case_ids"]) == 3
        assert events["cases.bundle.completed"]["outcome"] == "partial"
