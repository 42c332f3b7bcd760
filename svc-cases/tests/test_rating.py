"""Ratings (好差评): one per completed case, remedies for bad ones, defaults, statistics."""

import datetime as dt

from tongban.cases import checker
from tongban.cases.main import SERVICE
from tongban.cases.workday import calendar
from tongban.shared.testing.plugin import running_service

ITEM = "442020000900"


async def completed_case(client, tokens, applicant, via_counter=False):
    if via_counter:
        body = {"basic_code": ITEM, "applicant": {"type": "person", "id": applicant, "name": "赵六"}}
        r = await client.post("/api/v1/cases/cases", json=body, headers=tokens.clerk())
    else:
        r = await client.post("/api/v1/cases/cases", json={"basic_code": ITEM}, headers=tokens.citizen(applicant))
    cid = r.json()["id"]
    for action, who in [("accept", tokens.clerk()), ("review", tokens.approver()), ("approve", tokens.approver()),
                        ("complete", tokens.clerk())]:
        r = await client.post(f"/api/v1/cases/cases/{cid}/{action}", json={}, headers=who)
        assert r.status_code == 200, r.text
    return cid


async def test_ratings_remedies_defaults_and_statistics(infra, token_issuer, tokens, kit):
    async with running_service(SERVICE, infra, token_issuer) as client:
        await kit.publish_item(client)
        open_case = (await client.post("/api/v1/cases/cases", json={"basic_code": ITEM},
                                       headers=tokens.citizen())).json()
        r = await client.post("/api/v1/cases/ratings", json={"case_id": open_case["id"], "level": 5},
                              headers=tokens.citizen())
        assert r.status_code == 409 and r.json()["state"] == "submitted"

        good = await completed_case(client, tokens, kit.ADULT)
        bad = await completed_case(client, tokens, kit.OTHER_ADULT)
        unrated = await completed_case(client, tokens, kit.MINOR, via_counter=True)

        assert (await client.post("/api/v1/cases/ratings", json={"case_id": good, "level": 5},
                                  headers=tokens.citizen(kit.OTHER_ADULT))).status_code == 404
        assert (await client.post("/api/v1/cases/ratings", json={"case_id": good, "level": 6},
                                  headers=tokens.citizen())).status_code == 422
        # `rating` is the one name (as for hall tickets); the old `level` is still accepted, alone.
        r = await client.post("/api/v1/cases/ratings", json={"case_id": good, "rating": 5, "level": 4},
                              headers=tokens.citizen())
        assert r.status_code == 422
        r = await client.post("/api/v1/cases/ratings", json={"case_id": good, "rating": 5, "comment": "很快"},
                              headers=tokens.citizen() | {"Idempotency-Key": "rate-1"})
        assert r.status_code == 201 and r.json()["rating"] == 5 and r.json()["level"] == 5
        r = await client.post("/api/v1/cases/ratings", json={"case_id": good, "level": 4},
                              headers=tokens.citizen())
        assert r.status_code == 409 and r.json()["code"] == "already_rated"

        r = await client.post("/api/v1/cases/ratings", json={"case_id": bad, "level": 1, "comment": "跑了三次"},
                              headers=tokens.citizen(kit.OTHER_ADULT))
        assert r.status_code == 201
        remedies = (await client.get("/api/v1/cases/remedies", headers=tokens.approver())).json()
        assert remedies["total"] == 1
        remedy = remedies["items"][0]
        assert remedy["case_id"] == bad and remedy["state"] == "open"
        today = calendar.today()
        assert remedy["due_on"] == calendar.add_working_days(today, 5, {}).isoformat()
        assert (await client.get("/api/v1/cases/remedies",
                                 headers=tokens.approver(kit.OTHER_DEPT))).json()["total"] == 0
        assert (await client.get("/api/v1/cases/remedies", headers=tokens.citizen())).status_code == 403
        close = {"result": "已约谈窗口人员并优化流程", "callback_result": "satisfied"}
        r = await client.post(f"/api/v1/cases/remedies/{remedy['id']}/close", json=close,
                              headers=tokens.approver(kit.OTHER_DEPT))
        assert r.status_code == 403 and r.json()["code"] == "outside_scope"  # staff are told which question failed
        r = await client.post(f"/api/v1/cases/remedies/{remedy['id']}/close", json=close, headers=tokens.approver())
        assert r.json()["state"] == "closed" and r.json()["callback_result"] == "satisfied"
        r = await client.post(f"/api/v1/cases/remedies/{remedy['id']}/close", json=close, headers=tokens.approver())
        assert r.status_code == 409

        # The default rating, after the (admin-set) number of days.
        r = await client.put("/api/v1/cases/settings/rating-policy", headers=tokens.admin(),
                             json={"default_level": 5, "default_after_days": 1, "remedy_working_days": 5})
        assert r.status_code == 200 and r.json()["default_rating"] == 5   # the old name, still understood
        async with client.app.state.sessionmaker() as session, session.begin():
            assert (await checker.check(session, today))["default_ratings"] == 0
        async with client.app.state.sessionmaker() as session, session.begin():
            later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
            assert (await checker.check(session, today + dt.timedelta(days=2), later))["default_ratings"] == 1
        ratings_page = (await client.get("/api/v1/cases/ratings", headers=tokens.admin())).json()
        defaulted = [x for x in ratings_page["items"] if x["case_id"] == unrated][0]
        assert defaulted["defaulted"] is True and defaulted["level"] == 5 and defaulted["counter"] == "clerk-1"

        stats = (await client.get("/api/v1/cases/ratings/statistics", params={"group_by": "department"},
                                  headers=tokens.approver())).json()
        assert stats["items"] == [{"key": kit.DEPT, "ratings": 3, "positive": 2, "positive_rate": 0.6667}]
        stats = (await client.get("/api/v1/cases/ratings/statistics", params={"group_by": "counter"},
                                  headers=tokens.admin())).json()
        assert {s["key"]: s["ratings"] for s in stats["items"]} == {"clerk-1": 1, None: 2}
