"""12345 hotline tickets: lifecycle, category deadlines in working days, supervision, reopening,
and the complaint a bad rating opens by itself."""

import datetime as dt

from tongban.cases.case import checker
from tongban.cases.main import SERVICE
from tongban.cases.workday import calendar
from tongban.shared.testing.plugin import running_service


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
        assert r.status_code == 404  # not dispatched to this department yet: invisible to it
        r = await client.post(f"{url}/handle", json={}, headers=tokens.clerk())
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
