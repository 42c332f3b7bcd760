"""Instant approval (秒批): versioned rules decide within the submitting request, the event goes
through the outbox, and the licence comes back onto the case (证照联办)."""

import uuid

from sqlalchemy import select

from tongban.cases.benefit.models import BenefitSubject
from tongban.cases.db import platform
from tongban.cases.main import SERVICE
from tongban.shared.contracts.cases import CASE_APPROVED, CaseApprovedV1
from tongban.shared.contracts.credentials import LICENCE_ISSUED, LicenceIssuedV1
from tongban.shared.events import bus
from tongban.shared.events.envelope import make_event
from tongban.shared.testing.plugin import running_service, wait_for

ITEM = "442020000900"
ADULT_RULE = {"conditions": [{"field": "applicant.age", "op": "gte", "value": 18},
                             {"field": "form.purpose", "op": "in", "value": ["self", "family"]}], "note": "成年本人或家属"}


async def test_rule_versions_decide_on_submission(infra, token_issuer, tokens, kit, clean_nats):
    async with running_service(SERVICE, infra, token_issuer) as client:
        await kit.publish_item(client, licence="11100000000013338W001")
        await client.put(f"/api/v1/cases/item-configs/{ITEM}", headers=tokens.admin(), json={
            "form_fields": [{"name": "purpose", "type": "string", "required": True,
                             "enum": ["self", "family", "other"]}]})
        rules = f"/api/v1/cases/item-configs/{ITEM}/approval-rules"
        assert (await client.post(rules, json=ADULT_RULE, headers=tokens.citizen())).status_code == 403
        bad = {"conditions": [{"field": "form.purpose", "op": "like", "value": 1}]}
        r = await client.post(rules, json=bad, headers=tokens.admin())
        assert r.status_code == 422 and r.json()["errors"][0]["field"].startswith("conditions.0.op")
        r = await client.post(rules, json=ADULT_RULE, headers=tokens.admin() | {"Idempotency-Key": "rule-1"})
        assert r.status_code == 201 and r.json()["version"] == 1

        async def submit(headers, purpose="self"):
            r = await client.post("/api/v1/cases/cases", json={"basic_code": ITEM, "form_data": {"purpose": purpose}},
                                  headers=headers)
            assert r.status_code == 201, r.text
            return r.json()

        adult = await submit(tokens.citizen())
        assert adult["state"] == "approved" and adult["decided_by_rule_version"] == 1
        assert (await submit(tokens.citizen(kit.MINOR)))["state"] == "submitted"
        assert (await submit(tokens.citizen(), "other"))["state"] == "submitted"
        assert (await submit(tokens.company()))["state"] == "submitted"   # no age: an approver decides

        # Version 2 switches it off; the earlier decision keeps naming version 1.
        r = await client.post(rules, json=ADULT_RULE | {"active": False}, headers=tokens.admin())
        assert r.json()["version"] == 2
        assert (await submit(tokens.citizen()))["state"] == "submitted"
        timeline = (await client.get(f"/api/v1/cases/cases/{adult['id']}/timeline", headers=tokens.citizen())).json()
        assert timeline["items"][-1]["actor"] == "system:instant-approval"
        assert timeline["items"][-1]["detail"] == {"rule_version": 1}

        async with client.app.state.sessionmaker() as s:
            rows = (await s.execute(select(platform.outbox.c.envelope)
                                    .where(platform.outbox.c.subject == CASE_APPROVED))).scalars().all()
        assert len(rows) == 1
        approved = CaseApprovedV1.model_validate(rows[0]["data"])
        assert approved.case_id == uuid.UUID(adult["id"]) and approved.applicant_id == kit.ADULT
        assert approved.result_licence_type_code == "11100000000013338W001" and approved.department == kit.DEPT

        # The event reaches JetStream through the relay.
        nc = await bus.connect(infra.nats.url, "test-reader")
        sub = await nc.jetstream().pull_subscribe(CASE_APPROVED, durable="test-approved", stream="CASES")
        msgs = await sub.fetch(1, timeout=10)
        assert msgs[0].headers["Nats-Msg-Id"] == rows[0]["id"]

        # A licence naming the case that cannot be its result (another holder) is kept for a human.
        await bus.ensure_stream(nc.jetstream(), "credentials")
        stray = LicenceIssuedV1(licence_id=uuid.uuid4(), identifier="11100000000013338W001442000202611220002X",
                                type_code="11100000000013338W001", issuer_code=kit.DEPT, version=1,
                                holder_type="111", holder_id=kit.OTHER_ADULT, valid_from="2026-11-22",
                                source_case_id=uuid.UUID(adult["id"]))
        stray_event = make_event("credentials", LICENCE_ISSUED, stray, subject=str(stray.licence_id))
        await nc.jetstream().publish(LICENCE_ISSUED, stray_event.model_dump_json().encode(),
                                     headers={"Nats-Msg-Id": str(stray_event.id)})

        async def dead_lettered():
            async with client.app.state.sessionmaker() as s:
                return (await s.execute(select(platform.dead_letter.c.error))).scalar()

        assert "is not the result of case" in await wait_for(dead_lettered)
        case = (await client.get(f"/api/v1/cases/cases/{adult['id']}", headers=tokens.citizen())).json()
        assert case["state"] == "approved" and case["licence_identifier"] is None

        # svc-credentials issues the licence: its identifier comes back and the case is completed.
        issued = LicenceIssuedV1(licence_id=uuid.uuid4(), identifier="11100000000013338W001442000202611220001X",
                                 type_code="11100000000013338W001", issuer_code=kit.DEPT, version=1,
                                 holder_type="111", holder_id=kit.ADULT, valid_from="2026-11-22",
                                 source_case_id=uuid.UUID(adult["id"]))
        event = make_event("credentials", LICENCE_ISSUED, issued, subject=str(issued.licence_id))
        for n in range(2):
            await nc.jetstream().publish(LICENCE_ISSUED, event.model_dump_json().encode(),
                                         headers={"Nats-Msg-Id": f"{event.id}-{n}"})
        await nc.close()

        async def completed():
            case = (await client.get(f"/api/v1/cases/cases/{adult['id']}", headers=tokens.citizen())).json()
            return case if case["state"] == "completed" else None

        case = await wait_for(completed)
        assert case["licence_identifier"] == issued.identifier
        timeline = (await client.get(f"/api/v1/cases/cases/{adult['id']}/timeline", headers=tokens.citizen())).json()
        assert [e["action"] for e in timeline["items"]].count("complete") == 1

        # The benefit facts come through the same two consumers: the licence's (a licence fact of
        # its holder) and the case events' (the completed case of the item).
        async def facts_of(subject_id):
            async with client.app.state.sessionmaker() as s:
                return (await s.execute(select(BenefitSubject.facts)
                                        .where(BenefitSubject.subject_id == subject_id))).scalar() or {}

        async def adult_facts():
            facts = await facts_of(kit.ADULT)
            return facts if {f"case.completed.{ITEM}", "licence.11100000000013338W001"} <= set(facts) else None

        await wait_for(adult_facts)
        # The stray licence: its part for the case was dead-lettered alone, its facts part committed.
        assert (await facts_of(kit.OTHER_ADULT)).get("licence.11100000000013338W001") is True
        async with client.app.state.sessionmaker() as s:
            letters = (await s.execute(select(platform.dead_letter.c.consumer, platform.dead_letter.c.error))).all()
        assert [(c, e.split(":")[1].strip()) for c, e in letters] == [("cases-credentials-licence", "case")]


async def test_the_one_context_statement_answers_every_shape(infra, token_issuer, tokens, kit, clean_nats):
    """The submission's item, configuration, implementation, rule and calendar come from one
    statement built once per shape (named implementation or not, rule or not) with the values
    bound per call: each call sees its own item and city, and whether any city implements it."""
    from tongban.cases.catalog_copy import service as catalog_copy
    from tongban.shared.contracts.catalog import ImplementationPublishedV1

    elsewhere = "442020000901"   # implemented in Shenzhen only
    async with running_service(SERVICE, infra, token_issuer) as client:
        await kit.publish_item(client)                 # implemented nowhere: the item's department handles it
        await kit.publish_item(client, elsewhere)
        async with client.app.state.sessionmaker() as session, session.begin():
            await catalog_copy.apply_implementation_published(session, ImplementationPublishedV1(
                implementation_id=uuid.uuid4(), code=kit.DEPT + "4" + elsewhere, item_id=uuid.uuid4(),
                basic_code=elsewhere, city_code="440300", version=1,
                record={"implementing_body_credit_code": kit.DEPT}))
        await client.put(f"/api/v1/cases/item-configs/{ITEM}", headers=tokens.admin(), json={
            "form_fields": [{"name": "purpose", "type": "string", "required": True}]})
        r = await client.post(f"/api/v1/cases/item-configs/{ITEM}/approval-rules", json=ADULT_RULE,
                              headers=tokens.admin())
        assert r.status_code == 201

        async def submit(body):
            return await client.post("/api/v1/cases/cases", json=body, headers=tokens.citizen())

        for _ in range(2):  # the second time from the cached statements
            r = await submit({"basic_code": ITEM, "form_data": {"purpose": "self"}})
            assert r.status_code == 201 and r.json()["state"] == "approved", r.text
            r = await submit({"basic_code": ITEM, "form_data": {"purpose": "self"}, "draft": True})
            assert r.status_code == 201 and r.json()["state"] == "draft", r.text
            r = await submit({"basic_code": elsewhere})
            assert r.status_code == 422 and r.json()["code"] == "item_not_offered_in_city", r.text
            r = await submit({"basic_code": elsewhere, "city_code": "440300"})
            assert r.status_code == 201 and r.json()["state"] == "submitted", r.text
            r = await submit({"basic_code": elsewhere, "city_code": "440300",
                              "implementation_code": kit.DEPT + "4" + elsewhere})
            assert r.status_code == 201 and r.json()["department"] == kit.DEPT, r.text
            r = await submit({"basic_code": elsewhere, "implementation_code": kit.DEPT + "4" + elsewhere})
            assert r.json()["code"] == "implementation_not_found", r.text   # Shenzhen's, not Zhongshan's
            r = await submit({"basic_code": "442020000999"})
            assert r.status_code == 422 and r.json()["code"] == "item_not_available", r.text
