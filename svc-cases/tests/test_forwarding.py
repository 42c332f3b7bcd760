"""异地受理: svc-interop forwards a partner city's case (scope cases:forward, Idempotency-Key
required); the case keeps the partner's region and case number, and its events carry them."""

import asyncio
import uuid

from sqlalchemy import func, select

from tongban.cases.case.models import Case, CaseTimelineEntry
from tongban.cases.db import platform
from tongban.cases.main import SERVICE
from tongban.shared.testing.plugin import running_service

ITEM = "442020000900"
URL = "/api/v1/cases/forwarded-cases"


def interop(token_issuer) -> dict[str, str]:
    token = token_issuer.mint("service", "catalog:read cases:read cases:forward credentials:read credentials:trust",
                              ["cases", "catalog", "credentials"], sub="service:interop", service="interop")
    return {"Authorization": f"Bearer {token}"}


def body(kit, number="4403002026112900001", **kw):
    return {"partner_region": "440300", "partner_case_number": number, "basic_code": ITEM,
            "implementation_code": None, "form_data": {"purpose": "self"},
            "applicant": {"type": "person", "id_number": kit.ADULT, "credit_code": None, "name": "王五"}} | kw


async def test_forwarded_case_is_submitted_once_and_its_events_name_the_partner(infra, token_issuer, tokens, kit):
    async with running_service(SERVICE, infra, token_issuer) as client:
        await kit.publish_item(client)
        svc = interop(token_issuer)
        # only svc-interop's scope may forward; the key is required
        r = await client.post(URL, json=body(kit), headers=tokens.clerk() | {"Idempotency-Key": "m-1"})
        assert r.status_code == 403
        r = await client.post(URL, json=body(kit), headers=svc)
        assert r.status_code == 400 and r.json()["code"] == "bad_idempotency_key"
        # bad check digit and unknown item: 422 naming the field
        bad = body(kit)
        bad["applicant"]["id_number"] = kit.ADULT[:17] + ("0" if kit.ADULT[17] != "0" else "1")
        r = await client.post(URL, json=bad, headers=svc | {"Idempotency-Key": "m-bad"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "applicant.id_number"
        r = await client.post(URL, json=body(kit, basic_code="442020009999"), headers=svc | {"Idempotency-Key": "m-2"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "basic_code"
        r = await client.post(URL, json=body(kit, applicant={"type": "company", "name": "某公司"}),
                              headers=svc | {"Idempotency-Key": "m-3"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "applicant.credit_code"

        r = await client.post(URL, json=body(kit), headers=svc | {"Idempotency-Key": "m-10"})
        assert r.status_code == 201, r.text
        case = r.json()
        assert (case["state"], case["channel"]) == ("submitted", "partner")
        assert (case["partner_region"], case["partner_case_number"]) == ("440300", "4403002026112900001")
        assert case["applicant_id"] != kit.ADULT  # the service is not the owner: masked
        again = await client.post(URL, json=body(kit), headers=svc | {"Idempotency-Key": "m-10"})
        assert again.status_code == 201 and again.json()["id"] == case["id"]
        dup = await client.post(URL, json=body(kit), headers=svc | {"Idempotency-Key": "m-11"})
        assert dup.status_code == 409 and dup.json()["case_number"] == case["case_number"]

        # svc-interop follows the cases it forwarded (and sees no other)
        assert (await client.get(f"/api/v1/cases/cases/{case['id']}", headers=svc)).json()["state"] == "submitted"
        own = await client.post("/api/v1/cases/cases", json={"basic_code": ITEM}, headers=tokens.citizen())
        assert (await client.get(f"/api/v1/cases/cases/{own.json()['id']}", headers=svc)).status_code == 404
        assert (await client.get("/api/v1/cases/cases", headers=svc)).json()["total"] == 1
        # the applicant sees it in their own list; a clerk accepts and the event names the partner
        mine = (await client.get("/api/v1/cases/cases", headers=tokens.citizen())).json()
        assert case["id"] in [c["id"] for c in mine["items"]]
        assert (await client.post(f"/api/v1/cases/cases/{case['id']}/accept", json={},
                                  headers=tokens.clerk())).status_code == 200
        outbox = platform.outbox
        async with client.app.state.sessionmaker() as s:
            rows = (await s.execute(select(outbox.c.subject, outbox.c.envelope).order_by(outbox.c.created_at))).all()
        accepted = [e["data"] for t, e in rows if t == "cases.case.accepted"]
        assert accepted and accepted[0]["channel"] == "partner" and accepted[0]["state"] == "accepted"
        assert accepted[0]["partner_case_number"] == "4403002026112900001"
        assert accepted[0]["case_number"] == case["case_number"]

        # instant approval applies to forwarded cases; the approval event names the partner too
        r = await client.post(f"/api/v1/cases/item-configs/{ITEM}/approval-rules", headers=tokens.admin(),
                              json={"conditions": [{"field": "applicant.age", "op": "gte", "value": 18}]})
        assert r.status_code == 201
        r = await client.post(URL, json=body(kit, "4403002026112900002"), headers=svc | {"Idempotency-Key": "m-20"})
        assert r.status_code == 201 and r.json()["state"] == "approved"
        async with client.app.state.sessionmaker() as s:
            approved = (await s.execute(select(outbox.c.envelope).where(outbox.c.subject == "cases.case.approved")
                                        )).scalar_one()["data"]
        assert (approved["channel"], approved["partner_region"], approved["state"]) == ("partner", "440300", "approved")
        assert approved["partner_case_number"] == "4403002026112900002"


async def test_deliveries_of_one_partner_case_at_once_make_one_case(infra, token_issuer, tokens, kit):
    """The unique index decides between deliveries of one partner case under different message
    ids, sent together: one case, the others refused naming it, nothing of theirs written (not
    their keys: a resend of a refused key is refused again, not replayed as a case)."""
    async with running_service(SERVICE, infra, token_issuer) as client:
        await kit.publish_item(client)
        svc = interop(token_issuer)
        number = "4403002026112900077"
        answers = await asyncio.gather(*(client.post(URL, json=body(kit, number),
                                                     headers=svc | {"Idempotency-Key": f"m-at-once-{i}"})
                                         for i in range(4)))
        made = [r.json() for r in answers if r.status_code == 201]
        refused = [r.json() for r in answers if r.status_code != 201]
        assert len(made) == 1, [r.text for r in answers]
        assert len(refused) == 3 and {p["code"] for p in refused} == {"case_already_forwarded"}
        assert {(p["case_id"], p["case_number"]) for p in refused} == {(made[0]["id"], made[0]["case_number"])}
        async with client.app.state.sessionmaker() as s:
            cases = (await s.execute(select(func.count()).select_from(Case)
                                     .where(Case.partner_case_number == number))).scalar_one()
            timeline = (await s.execute(select(func.count()).select_from(CaseTimelineEntry)
                                        .where(CaseTimelineEntry.case_id == uuid.UUID(made[0]["id"])))).scalar_one()
            audits = (await s.execute(select(func.count()).select_from(platform.audit_event)
                                      .where(platform.audit_event.c.action.like("case.%"),
                                             platform.audit_event.c.entity_id == made[0]["id"]))).scalar_one()
            keys = (await s.execute(select(platform.idempotency_key.c.key)
                                    .where(platform.idempotency_key.c.key.like("m-at-once-%")))).scalars().all()
        assert cases == 1 and timeline >= 1 and audits >= 1
        assert len(keys) == 1  # only the delivery that made the case keeps its key
        winner = next(f"m-at-once-{i}" for i, r in enumerate(answers) if r.status_code == 201)
        loser = next(f"m-at-once-{i}" for i, r in enumerate(answers) if r.status_code != 201)
        assert keys == [winner]
        again = await client.post(URL, json=body(kit, number), headers=svc | {"Idempotency-Key": loser})
        assert again.status_code == 409 and again.json()["case_id"] == made[0]["id"]
        # The next partner case goes in as before (the refused ones left nothing locked behind).
        other = await client.post(URL, json=body(kit, "4403002026112900078"), headers=svc | {"Idempotency-Key": "m-next"})
        assert other.status_code == 201 and other.json()["id"] != made[0]["id"]
