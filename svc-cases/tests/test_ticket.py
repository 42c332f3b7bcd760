"""12345 hotline tickets: lifecycle, category deadlines in working days, supervision, reopening,
and the complaint a bad rating opens by itself."""

import datetime as dt
import uuid

from sqlalchemy import func, select

from tongban.cases import checker
from tongban.cases.db import platform
from tongban.cases.main import SERVICE
from tongban.cases.workday import calendar
from tongban.shared.contracts.interop import REFERRAL_RECEIVED, HotlineTicketV1, ReferralV1
from tongban.shared.events import bus
from tongban.shared.events.envelope import make_event
from tongban.shared.testing.plugin import running_service, wait_for


async def test_ticket_lifecycle_and_supervision(infra, token_issuer, tokens, kit):
    async with running_service(SERVICE, infra, token_issuer) as client:
        today = calendar.today()
        r = await client.post("/api/v1/cases/tickets", headers=tokens.citizen() | {"Idempotency-Key": "t-1"},
                              json={"category": "consultation", "content": "社保卡怎么补办?",
                                    "contact_phone": "13800138000"})
        assert r.status_code == 201, r.text
        consult = r.json()
        assert consult["state"] == "received" and consult["limit_working_days"] == 2
        assert consult["due_on"] == calendar.add_working_days(today, 2, {}).isoformat()
        assert consult["ticket_number"].startswith(f"12345{today:%Y%m%d}")
        r = await client.post("/api/v1/cases/tickets", headers=tokens.clerk(),
                              json={"category": "unresolved", "content": "跑了三次办不成", "citizen_id": kit.MINOR})
        report = r.json()
        assert report["limit_working_days"] == 4 and report["citizen_id"] != kit.MINOR  # masked for the clerk
        assert (await client.post("/api/v1/cases/tickets", headers=tokens.clerk(), json={
            "category": "help", "content": "x", "citizen_id": "123"})).json()["errors"][0]["field"] == "citizen_id"

        assert (await client.get(f"/api/v1/cases/tickets/{consult['id']}",
                                 headers=tokens.citizen(kit.OTHER_ADULT))).status_code == 404
        mine = (await client.get(f"/api/v1/cases/tickets/{consult['id']}", headers=tokens.citizen())).json()
        assert mine["contact_phone"] == "13800138000"

        tid = consult["id"]
        url = f"/api/v1/cases/tickets/{tid}"
        r = await client.post(f"{url}/reply", json={"reply": "x"}, headers=tokens.approver())
        assert r.status_code == 403 and r.json()["code"] == "outside_scope"  # not dispatched to its department yet
        r = await client.post(f"{url}/handle", json={}, headers=tokens.clerk())
        assert r.status_code == 403 and r.json()["code"] == "not_allowed_for_role"  # the department's step
        r = await client.post(f"{url}/close", json={"satisfaction": "satisfied"}, headers=tokens.clerk())
        assert r.status_code == 409 and r.json()["state"] == "received"
        assert (await client.post(f"{url}/dispatch", json={}, headers=tokens.clerk())).status_code == 422
        r = await client.post(f"{url}/dispatch", json={"department": kit.DEPT}, headers=tokens.clerk())
        assert r.json()["state"] == "dispatched"
        assert (await client.post(f"{url}/handle", json={}, headers=tokens.clerk())).status_code == 403
        assert (await client.post(f"{url}/handle", json={}, headers=tokens.approver())).json()["state"] == "handling"

        # The 2-day consultation is overdue (the 4-day report is not yet): supervised once.
        late = dt.date.fromisoformat(consult["due_on"]) + dt.timedelta(days=1)
        async with client.app.state.sessionmaker() as session, session.begin():
            assert (await checker.check(session, late))["supervised_tickets"] == 1
        async with client.app.state.sessionmaker() as session, session.begin():
            assert (await checker.check(session, late))["supervised_tickets"] == 0

        r = await client.post(f"{url}/reply", json={"reply": "携带身份证到任一社保网点补办"}, headers=tokens.approver())
        assert r.json()["state"] == "replied"
        assert (await client.post(f"{url}/close", json={}, headers=tokens.clerk())).status_code == 422
        r = await client.post(f"{url}/close", json={"satisfaction": "unsatisfied"}, headers=tokens.clerk())
        assert r.json()["state"] == "closed"
        r = await client.post(f"{url}/reopen", json={"reason": "网点说不能补办"}, headers=tokens.citizen())
        assert r.json()["state"] == "dispatched" and r.json()["reopened"] == 1 and r.json()["supervised_at"] is None
        page = (await client.get("/api/v1/cases/tickets", headers=tokens.approver())).json()
        assert [t["id"] for t in page["items"]] == [tid]


async def test_bad_rating_opens_a_complaint_ticket(infra, token_issuer, tokens, kit):
    async with running_service(SERVICE, infra, token_issuer) as client:
        await kit.publish_item(client)
        cid = (await client.post("/api/v1/cases/cases", json={"basic_code": "442020000900"},
                                 headers=tokens.citizen())).json()["id"]
        for action, who in [("accept", tokens.clerk()), ("review", tokens.approver()),
                            ("approve", tokens.approver()), ("complete", tokens.clerk())]:
            await client.post(f"/api/v1/cases/cases/{cid}/{action}", json={}, headers=who)
        r = await client.post("/api/v1/cases/ratings", json={"case_id": cid, "level": 2, "comment": "态度差"},
                              headers=tokens.citizen())
        assert r.status_code == 201
        tickets = (await client.get("/api/v1/cases/tickets", headers=tokens.citizen())).json()
        assert tickets["total"] == 1
        ticket = tickets["items"][0]
        assert ticket["source"] == "rating" and ticket["case_id"] == cid and ticket["state"] == "dispatched"
        assert ticket["department"] == kit.DEPT and "态度差" in ticket["content"]


async def test_partner_referral_opens_a_ticket_once_and_its_steps_are_published(
        infra, token_issuer, tokens, kit, clean_nats):
    referral = ReferralV1(
        referral_id=uuid.uuid4(), reference_number="H4420002026112900001", kind="hotline", direction="inbound",
        partner="440300", status="received", partner_reference_number="H4403002026112900007",
        ticket=HotlineTicketV1(ticket_number="SZ12345-0007", category="投诉类", summary="窗口拒收材料",
                               content="在深圳办理时被告知需回中山原籍", caller_name="陈六", caller_phone="13900139000"))
    praise = referral.model_copy(update={"referral_id": uuid.uuid4(), "ticket": referral.ticket.model_copy(
        update={"category": "表扬", "ticket_number": "SZ12345-0008"})})
    migration = ReferralV1(referral_id=uuid.uuid4(), reference_number="M1", kind="company_migration",
                           direction="inbound", partner="440300", status="received")
    async with running_service(SERVICE, infra, token_issuer) as client:
        nc = await bus.connect(infra.nats.url, "test-publisher")
        await bus.ensure_stream(nc.jetstream(), "interop")
        event = make_event("interop", REFERRAL_RECEIVED, referral, subject=str(referral.referral_id))
        for n, e in enumerate([event, event, make_event("interop", REFERRAL_RECEIVED, migration),
                               make_event("interop", REFERRAL_RECEIVED, praise)]):
            # the first one twice under different message ids: JetStream's dedup cannot help, the inbox must
            await nc.jetstream().publish(REFERRAL_RECEIVED, e.model_dump_json().encode(),
                                         headers={"Nats-Msg-Id": f"m-{n}"})
        await nc.close()

        async def handled():  # the three distinct events are in the consumer's inbox, the repeat was delivered
            async with client.app.state.sessionmaker() as s:
                inbox = platform.inbox
                n = (await s.execute(select(func.count()).select_from(inbox).where(
                    inbox.c.consumer == "cases-interop-referral"))).scalar()
            consumer = next(c for c in client.app.state.runtime.consumers if c.sub.durable == "cases-interop-referral")
            return n == 3 and consumer.handled == 4

        await wait_for(handled)
        page = (await client.get("/api/v1/cases/tickets", headers=tokens.clerk())).json()
        by_partner = {t["partner_ticket_number"]: t for t in page["items"]}
        assert page["total"] == 2 and set(by_partner) == {"SZ12345-0007", "SZ12345-0008"}
        ticket = by_partner["SZ12345-0007"]
        assert (ticket["source"], ticket["category"], ticket["partner_category"], ticket["state"]) == (
            "partner", "complaint", "投诉类", "received")
        assert ticket["referral_id"] == str(referral.referral_id) and ticket["partner_region"] == "440300"
        assert ticket["contact_name"] == "陈六" and ticket["contact_phone"] != "13900139000"  # masked
        assert ticket["content"].startswith("窗口拒收材料") and ticket["limit_working_days"] == 4
        unknown = by_partner["SZ12345-0008"]
        assert (unknown["category"], unknown["partner_category"], unknown["limit_working_days"]) == (
            "consultation", "表扬", 2)

        url = f"/api/v1/cases/tickets/{ticket['id']}"
        for action, who, body in [("dispatch", tokens.clerk(), {"department": kit.DEPT}),
                                  ("handle", tokens.approver(), {}),
                                  ("reply", tokens.approver(), {"reply": "已协调中山窗口受理"}),
                                  ("close", tokens.clerk(), {"satisfaction": "satisfied"}),
                                  ("reopen", tokens.clerk(), {"reason": "来电人不认可"})]:
            r = await client.post(f"{url}/{action}", json=body, headers=who)
            assert r.status_code == 200, r.text

        async with client.app.state.sessionmaker() as s:
            rows = (await s.execute(select(platform.outbox.c.subject, platform.outbox.c.envelope)
                                    .where(platform.outbox.c.subject.like("cases.ticket.%"))
                                    .order_by(platform.outbox.c.created_at))).all()
        mine = [(subject, e["data"]) for subject, e in rows if e["data"]["ticket_id"] == ticket["id"]]
        assert [subject for subject, _ in mine] == ["cases.ticket.opened", "cases.ticket.replied",
                                                    "cases.ticket.closed", "cases.ticket.reopened"]
        assert all(d["referral_id"] == str(referral.referral_id) and d["source"] == "partner" for _, d in mine)
        assert [d["reply"] for _, d in mine] == [None, "已协调中山窗口受理", "已协调中山窗口受理", None]
        assert [d["state"] for _, d in mine] == ["received", "replied", "closed", "dispatched"]
