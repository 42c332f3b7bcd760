"""The legal clock on cases: pauses, warnings at 80 %, overdue, suspension for missing
materials, and worklists sorted by remaining working time."""

import datetime as dt
import uuid

from sqlalchemy import select

from tongban.cases import checker
from tongban.cases.db import platform
from tongban.cases.main import SERVICE
from tongban.cases.workday import calendar
from tongban.shared.contracts.cases import CaseDeadlineV1
from tongban.shared.testing.plugin import running_service, wait_for

ITEM, QUICK = "442020000900", "442020000901"


async def run_checker(client, today: dt.date) -> dict[str, int]:
    async with client.app.state.sessionmaker() as session, session.begin():
        return await checker.check(session, today)


async def handled_by_payment(client, subject: str) -> None:
    """Wait until svc-cases' payment consumer has handled the case's latest `subject` event: it locks
    the case row while it does, and the checker skips locked rows (SKIP LOCKED), so a checker
    run racing it would find nothing to remind."""
    async with client.app.state.sessionmaker() as s:
        envelope = (await s.execute(select(platform.outbox.c.envelope).where(platform.outbox.c.subject == subject)
                                    .order_by(platform.outbox.c.created_at.desc()).limit(1))).scalar_one()
    event_id = uuid.UUID(envelope["id"])

    async def handled():
        async with client.app.state.sessionmaker() as s:
            return (await s.execute(select(platform.inbox.c.event_id).where(
                platform.inbox.c.consumer == "cases-payment-case",
                platform.inbox.c.event_id == event_id))).first() is not None or None
    await wait_for(handled, timeout=30)


def counts(**raised: int) -> dict[str, int]:
    return {"yellow": 0, "red": 0, "suspended": 0, "gaps_reminders": 0, "default_ratings": 0,
            "supervised_tickets": 0, "account_reminders": 0} | raised


async def test_warnings_overdue_and_suspension(infra, token_issuer, tokens, kit):
    async with running_service(SERVICE, infra, token_issuer) as client:
        assert "periodic-deadline-checker" in {t.get_name() for t in client.app.state.runtime.tasks}
        await kit.publish_item(client, limit=15)
        await kit.publish_item(client, QUICK, limit=3, name="快办事项")

        async def submit(code=ITEM):
            r = await client.post("/api/v1/cases/cases", json={"basic_code": code}, headers=tokens.citizen())
            assert r.status_code == 201, r.text
            return r.json()

        slow, quick, gappy = await submit(), await submit(QUICK), await submit()
        received = dt.date.fromisoformat(slow["received_on"])
        assert slow["deadline_on"] == calendar.add_working_days(received, 15, {}).isoformat()

        # Worklist: least remaining time first, for the approver's department only.
        for case in (slow, quick, gappy):
            await client.post(f"/api/v1/cases/cases/{case['id']}/accept", json={}, headers=tokens.clerk())
        worklist = (await client.get("/api/v1/cases/cases/worklist", headers=tokens.approver())).json()
        assert [c["id"] for c in worklist["items"]][0] == quick["id"]
        remaining = [c["remaining_days"] for c in worklist["items"]]
        assert remaining == sorted(remaining)
        assert (await client.get("/api/v1/cases/cases/worklist",
                                 headers=tokens.approver(kit.OTHER_DEPT))).json()["total"] == 0
        assert (await client.get("/api/v1/cases/cases/worklist", headers=tokens.citizen())).status_code == 403

        # Accepted with gaps: materials due in 2 days; the checker suspends it afterwards.
        due = received + dt.timedelta(days=2)
        await client.post(f"/api/v1/cases/cases/{gappy['id']}/request_supplement", json={"reason": "补充户口簿"},
                          headers=tokens.clerk())
        paused = (await client.get(f"/api/v1/cases/cases/{gappy['id']}", headers=tokens.clerk())).json()
        assert paused["paused"] is True

        day12 = calendar.add_working_days(received, 12, {})
        # Day 12 of 15 is 80 % of the slow case; the 3-day case is long overdue.
        assert await run_checker(client, day12) == counts(yellow=1, red=1)
        assert await run_checker(client, day12) == counts()
        late = dt.date.fromisoformat(slow["deadline_on"]) + dt.timedelta(days=1)
        assert await run_checker(client, late) == counts(red=1)

        async with client.app.state.sessionmaker() as s:
            rows = (await s.execute(select(platform.outbox.c.subject, platform.outbox.c.envelope)
                                    .where(platform.outbox.c.subject.like("cases.case.%due%")
                                           | platform.outbox.c.subject.like("cases.case.deadline%")))).all()
        levels = sorted((r.subject, CaseDeadlineV1.model_validate(r.envelope["data"]).level) for r in rows)
        assert levels == [("cases.case.deadline_warning", "yellow")] + [("cases.case.overdue", "red")] * 2

        # Resubmitted after the pause: the paused working days move the deadline.
        await client.post(f"/api/v1/cases/cases/{gappy['id']}/resubmit", json={}, headers=tokens.citizen())
        await handled_by_payment(client, "cases.case.resubmitted")
        resumed = (await client.get(f"/api/v1/cases/cases/{gappy['id']}", headers=tokens.clerk())).json()
        assert resumed["paused"] is False and resumed["deadline_on"] >= slow["deadline_on"]
        r = await client.post(f"/api/v1/cases/cases/{gappy['id']}/accept",
                              json={"gaps": ["户口簿"], "gaps_due_on": due.isoformat()}, headers=tokens.clerk())
        assert r.json()["gaps_due_on"] == due.isoformat()
        # 容缺 reminder: once, on the due date at the latest, as an event naming the missing materials
        assert (await run_checker(client, due))["gaps_reminders"] == 1
        async with client.app.state.sessionmaker() as s:
            reminder = (await s.execute(select(platform.outbox.c.envelope)
                                        .where(platform.outbox.c.subject == "cases.case.gaps_reminder"))).scalar_one()
        assert reminder["data"]["gaps"] == ["户口簿"] and reminder["data"]["days_left"] == 0
        after = await run_checker(client, due + dt.timedelta(days=1))
        assert after["suspended"] == 1 and after["gaps_reminders"] == 0
        case = (await client.get(f"/api/v1/cases/cases/{gappy['id']}", headers=tokens.citizen())).json()
        assert case["state"] == "suspended" and case["paused"] is True
        r = await client.post(f"/api/v1/cases/cases/{gappy['id']}/fulfil_gaps", json={}, headers=tokens.citizen())
        assert r.json()["state"] == "accepted" and r.json()["gaps"] is None and r.json()["paused"] is False
