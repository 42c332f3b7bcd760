"""Cases: submission, ownership, the state machine, the timeline, numbers and lookup codes."""

import datetime as dt
import re

from sqlalchemy import select

from tongban.cases.db import platform
from tongban.cases.main import SERVICE
from tongban.cases.workday import calendar
from tongban.shared.testing.plugin import running_service

ITEM = "442020000900"

FORM = [{"name": "phone", "type": "phone", "required": True},
        {"name": "service_years", "type": "integer", "minimum": 1, "maximum": 60},
        {"name": "veteran_id", "type": "resident_id"}]


async def setup_item(client, tokens, kit, **kw) -> None:
    await kit.publish_item(client, **kw)
    r = await client.put(f"/api/v1/cases/item-configs/{ITEM}", json={"form_fields": FORM}, headers=tokens.admin())
    assert r.status_code == 200, r.text


async def submit(client, headers, form=None, key=None, **body):
    h = dict(headers) | ({"Idempotency-Key": key} if key else {})
    body = {"basic_code": ITEM, "form_data": form or {"phone": "13800138000"}, **body}
    return await client.post("/api/v1/cases/cases", json=body, headers=h)


async def act(client, case_id, action, headers, **body):
    return await client.post(f"/api/v1/cases/cases/{case_id}/{action}", json=body, headers=headers)


async def test_submission_validation_idempotency_and_numbers(infra, token_issuer, tokens, kit):
    async with running_service(SERVICE, infra, token_issuer) as client:
        await setup_item(client, tokens, kit)
        r = await submit(client, tokens.citizen(), {"phone": "123"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "form_data.phone"
        r = await submit(client, tokens.citizen(), {"phone": "13800138000", "service_years": 0})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "form_data.service_years"
        r = await submit(client, tokens.citizen(), {"phone": "13800138000", "colour": "red"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "form_data.colour"
        r = await submit(client, tokens.citizen(), {"service_years": 3})
        assert r.status_code == 422 and "required" in r.json()["detail"]
        r = await client.post("/api/v1/cases/cases", json={"basic_code": "442020000999"}, headers=tokens.citizen())
        assert r.status_code == 422 and r.json()["code"] == "item_not_available"

        first = await submit(client, tokens.citizen(), key="k-1")
        assert first.status_code == 201, first.text
        again = await submit(client, tokens.citizen(), key="k-1")
        assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
        second = await submit(client, tokens.citizen(), key="k-2")
        case, case2 = first.json(), second.json()
        today = calendar.today()
        assert case["case_number"] == f"442000{today:%Y%m%d}00001"
        assert case2["case_number"] == f"442000{today:%Y%m%d}00002"
        assert re.fullmatch(r"[2-9A-HJKMNP-Z]{8}", case["lookup_code"])
        assert case["state"] == "submitted" and case["department"] == kit.DEPT
        assert case["applicant_id"] == kit.ADULT and case["limit_days"] == 15
        assert case["deadline_on"] == calendar.add_working_days(today, 15, {}).isoformat()

        r = await client.get("/api/v1/cases/cases/progress",
                             params={"case_number": case["case_number"], "lookup_code": case["lookup_code"]})
        assert r.status_code == 200 and r.json()["state"] == "submitted" and "applicant_id" not in r.json()
        r = await client.get("/api/v1/cases/cases/progress",
                             params={"case_number": case["case_number"], "lookup_code": "AAAAAAAA"})
        assert r.status_code == 404


async def test_who_sees_which_case(infra, token_issuer, tokens, kit):
    async with running_service(SERVICE, infra, token_issuer) as client:
        await setup_item(client, tokens, kit)
        mine = (await submit(client, tokens.citizen())).json()
        theirs = (await submit(client, tokens.citizen(kit.OTHER_ADULT, "王五"))).json()
        company = (await submit(client, tokens.company())).json()
        assert company["applicant_type"] == "company" and company["applicant_id"] == kit.COMPANY
        assert company["applicant_name"] == "中山某公司"

        assert (await client.get(f"/api/v1/cases/cases/{theirs['id']}", headers=tokens.citizen())).status_code == 404
        assert (await act(client, theirs["id"], "withdraw", tokens.citizen())).status_code == 404
        page = (await client.get("/api/v1/cases/cases", headers=tokens.citizen())).json()
        assert [c["id"] for c in page["items"]] == [mine["id"]]
        page = (await client.get("/api/v1/cases/cases", headers=tokens.company())).json()
        assert [c["id"] for c in page["items"]] == [company["id"]]

        # Staff see ID numbers masked; an approver of another department sees nothing.
        seen = (await client.get(f"/api/v1/cases/cases/{mine['id']}", headers=tokens.clerk())).json()
        assert seen["applicant_id"] == kit.ADULT[:6] + "********" + kit.ADULT[-4:]
        out = await client.get(f"/api/v1/cases/cases/{mine['id']}", headers=tokens.approver(kit.OTHER_DEPT))
        assert out.status_code == 403 and out.json()["code"] == "outside_scope"
        seen = (await client.get(f"/api/v1/cases/cases/{mine['id']}", headers=tokens.approver())).json()
        assert seen["applicant_id"] != kit.ADULT and seen["lookup_code"] is None
        assert (await client.get("/api/v1/cases/cases", headers=tokens.approver(kit.OTHER_DEPT))).json()["total"] == 0
        assert (await client.get("/api/v1/cases/cases", headers=tokens.approver())).json()["total"] == 3
        page = (await client.get("/api/v1/cases/cases", params={"limit": 2}, headers=tokens.clerk())).json()
        assert page["total"] == 3 and len(page["items"]) == 2 and page["next_offset"] == 2


async def test_clerk_submits_for_a_walk_in_applicant(infra, token_issuer, tokens, kit):
    async with running_service(SERVICE, infra, token_issuer) as client:
        await setup_item(client, tokens, kit)
        r = await submit(client, tokens.clerk())
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "applicant"
        bad = {"type": "person", "id": kit.ADULT[:-1] + ("0" if kit.ADULT[-1] != "0" else "1"), "name": "赵六"}
        r = await submit(client, tokens.clerk(), applicant=bad)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "applicant.id"
        r = await submit(client, tokens.clerk(), applicant={"type": "person", "id": kit.MINOR, "name": "赵小六"})
        assert r.status_code == 201 and r.json()["channel"] == "counter"
        # The walk-in applicant, once logged in, sees it as theirs.
        mine = await client.get(f"/api/v1/cases/cases/{r.json()['id']}", headers=tokens.citizen(kit.MINOR))
        assert mine.status_code == 200 and mine.json()["applicant_id"] == kit.MINOR
        assert (await submit(client, tokens.approver())).status_code == 403


async def test_the_whole_path_with_wrong_states_and_roles(infra, token_issuer, tokens, kit):
    async with running_service(SERVICE, infra, token_issuer) as client:
        await setup_item(client, tokens, kit)
        case = (await submit(client, tokens.citizen())).json()
        cid = case["id"]

        r = await act(client, cid, "approve", tokens.approver())
        assert r.status_code == 409 and r.json()["state"] == "submitted" and "submitted" in r.json()["detail"]
        assert (await act(client, cid, "accept", tokens.citizen())).status_code == 403
        assert (await act(client, cid, "refuse", tokens.clerk())).status_code == 422   # reason required

        r = await act(client, cid, "request_supplement", tokens.clerk(), reason="身份证复印件不清晰")
        assert r.json()["state"] == "supplement_requested" and r.json()["paused"] is True
        assert (await act(client, cid, "accept", tokens.clerk())).status_code == 409
        r = await act(client, cid, "resubmit", tokens.citizen(), form_data={"phone": "13900139000"})
        assert r.json()["state"] == "submitted" and r.json()["paused"] is False
        assert r.json()["form_data"] == {"phone": "13900139000"}

        assert (await act(client, cid, "accept", tokens.clerk())).json()["state"] == "accepted"
        assert (await act(client, cid, "review", tokens.approver(kit.OTHER_DEPT))).json()["code"] == "outside_scope"
        assert (await act(client, cid, "review", tokens.approver())).json()["state"] == "in_review"
        assert (await act(client, cid, "extend", tokens.approver(), reason="需现场核查")).status_code == 422
        r = await act(client, cid, "extend", tokens.approver(), reason="需现场核查", extension_days=5)
        assert r.json()["extension_days"] == 5
        assert r.json()["deadline_on"] == calendar.add_working_days(dt.date.fromisoformat(
            r.json()["received_on"]), 20, {}).isoformat()
        assert (await act(client, cid, "withdraw", tokens.citizen(kit.OTHER_ADULT))).status_code == 404
        assert (await act(client, cid, "approve", tokens.approver())).json()["state"] == "approved"
        r = await act(client, cid, "withdraw", tokens.citizen())
        assert r.status_code == 409 and r.json()["state"] == "approved"
        assert (await act(client, cid, "complete", tokens.clerk())).json()["state"] == "completed"

        timeline = (await client.get(f"/api/v1/cases/cases/{cid}/timeline", headers=tokens.citizen())).json()
        assert [(e["action"], e["to_state"]) for e in timeline["items"]] == [
            ("submit", "submitted"), ("request_supplement", "supplement_requested"),
            ("resubmit", "submitted"), ("accept", "accepted"), ("review", "in_review"), ("extend", "in_review"),
            ("approve", "approved"), ("complete", "completed")]
        assert timeline["items"][1]["reason"] == "身份证复印件不清晰"
        assert timeline["items"][1]["actor_role"] == "clerk"

        audit = (await client.get("/api/v1/cases/audit-events", params={"entity": "case", "entity_id": cid},
                                  headers=tokens.admin())).json()
        assert audit["total"] == 8
        async with client.app.state.sessionmaker() as s:
            subjects = (await s.execute(select(platform.outbox.c.subject).order_by(platform.outbox.c.created_at))
                        ).scalars().all()
        assert "cases.case.approved" in subjects and "cases.case.supplement_requested" in subjects
        # A notifier learns whom to tell (her account, no personal number) and what is missing.
        async with client.app.state.sessionmaker() as s:
            asked = (await s.execute(select(platform.outbox.c.envelope).where(
                platform.outbox.c.subject == "cases.case.supplement_requested"))).scalar_one()
            accepted = (await s.execute(select(platform.outbox.c.envelope).where(
                platform.outbox.c.subject == "cases.case.accepted"))).scalar_one()
        assert asked["data"]["applicant_sub"] == case["submitted_by"] is not None
        assert asked["data"]["missing_materials"] == ["身份证复印件不清晰"]
        assert accepted["data"]["applicant_sub"] == case["submitted_by"] and accepted["data"]["missing_materials"] is None


async def test_draft_withdraw_refuse_gaps_and_commitment(infra, token_issuer, tokens, kit):
    async with running_service(SERVICE, infra, token_issuer) as client:
        await setup_item(client, tokens, kit)
        draft = (await submit(client, tokens.citizen(), draft=True)).json()
        assert draft["state"] == "draft" and draft["deadline_on"] is None
        assert (await act(client, draft["id"], "submit", tokens.citizen())).json()["state"] == "submitted"
        assert (await act(client, draft["id"], "withdraw", tokens.citizen(), reason="不办了")).json()["state"] \
            == "withdrawn"

        refused = (await submit(client, tokens.citizen())).json()
        r = await act(client, refused["id"], "refuse", tokens.clerk(), reason="不属于本部门受理范围")
        assert r.json()["state"] == "refused" and r.json()["state_reason"] == "不属于本部门受理范围"

        gaps = (await submit(client, tokens.citizen(), commitment_signed=True)).json()
        r = await act(client, gaps["id"], "accept", tokens.clerk(), gaps=["户口簿"])
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "gaps_due_on"
        due = (calendar.today() + dt.timedelta(days=3)).isoformat()
        r = await act(client, gaps["id"], "accept", tokens.clerk(), gaps=["户口簿"], gaps_due_on=due)
        assert r.json()["gaps"] == ["户口簿"]
        r = await act(client, gaps["id"], "approve", tokens.approver(), commitment=True)
        assert r.status_code == 409 and r.json()["code"] == "gaps_outstanding"
        assert (await act(client, gaps["id"], "fulfil_gaps", tokens.citizen())).json()["gaps"] is None
        # Commitment approval straight from accepted, then revoked by a later check.
        r = await act(client, gaps["id"], "approve", tokens.approver(), commitment=True)
        assert r.json()["state"] == "approved" and r.json()["commitment_approval"] is True
        r = await act(client, gaps["id"], "revoke", tokens.approver(), reason="核查发现承诺不实")
        assert r.json()["state"] == "revoked"

        plain = (await submit(client, tokens.citizen())).json()
        await act(client, plain["id"], "accept", tokens.clerk())
        r = await act(client, plain["id"], "approve", tokens.approver(), commitment=True)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "commitment"


async def test_approver_sets_the_licence_fields_the_department_decides(infra, token_issuer, tokens, kit):
    """证照联办: what the form cannot know (a licence's grade, area, use) comes with the approval,
    over the form's fields of the same name, to the licence issuer."""
    async with running_service(SERVICE, infra, token_issuer) as client:
        await setup_item(client, tokens, kit, licence=kit.DEPT + "001")
        cid = (await submit(client, tokens.citizen())).json()["id"]
        for who, action in ((tokens.clerk(), "accept"), (tokens.approver(), "review")):
            assert (await act(client, cid, action, who)).status_code == 200
        r = await act(client, cid, "approve", tokens.approver(), licence_data={"grade": "一级", "phone": "13900000000"})
        assert r.status_code == 200 and r.json()["state"] == "approved", r.text
        async with client.app.state.sessionmaker() as s:
            envelope = (await s.execute(select(platform.outbox.c.envelope)
                                        .where(platform.outbox.c.subject == "cases.case.approved"))).scalar_one()
        assert envelope["data"]["data"] == {"phone": "13900000000", "grade": "一级"}
        timeline = (await client.get(f"/api/v1/cases/cases/{cid}/timeline", headers=tokens.approver())).json()
        assert timeline["items"][-1]["detail"] == {"licence_data": {"grade": "一级", "phone": "13900000000"}}
