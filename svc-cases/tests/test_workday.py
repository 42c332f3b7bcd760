"""The working-day calendar: chinese-calendar, the official schedules admins import, the
override table, and provisional deadlines past all three."""

import datetime as dt

from sqlalchemy import select

from tongban.cases import calendar_flow
from tongban.cases.case.models import Case
from tongban.cases.db import platform
from tongban.cases.main import SERVICE
from tongban.cases.workday import calendar
from tongban.shared import clock
from tongban.shared.testing.plugin import running_service

D = dt.date
# A schedule shaped like the State Council's yearly notice (test data, not the real 2027 notice).
SCHEDULE_2027 = {
    "notice_number": "国办发明电〔2026〕99号（测试）", "notice_date": "2026-11-10",
    "holidays": ["2027-01-01", "2027-01-02", "2027-01-03",
                 "2027-02-05", "2027-02-06", "2027-02-07", "2027-02-08", "2027-02-09", "2027-02-10",
                 "2027-02-11", "2027-02-12", "2027-02-13"],
    "adjusted_workdays": ["2027-02-14", "2027-02-20"],
}


def test_fifteen_working_days_from_mid_autumn_2026():
    # 2026-09-25 is the Mid-Autumn holiday: received on Monday 09-28; National Day week off;
    # Saturday 10-10 is a make-up working day.
    assert calendar.add_working_days(D(2026, 9, 25), 15, {}) == D(2026, 10, 23)
    assert calendar.receipt_day(D(2026, 9, 25), {}) == D(2026, 9, 28)
    assert calendar.working_days_between(D(2026, 9, 30), D(2026, 10, 11), {}) == 3
    assert calendar.provisional_basis(D(2026, 9, 25), D(2026, 10, 23), {}) is None


def test_a_year_nobody_published_is_estimated_and_marked_provisional():
    assert calendar.is_workday(D(2027, 1, 1), {}) is False       # New Year, by the statute
    assert calendar.is_workday(D(2027, 1, 4), {}) is True
    basis = calendar.provisional_basis(D(2026, 12, 30), D(2027, 1, 7), {})
    assert basis is not None and basis.startswith("2027:")
    # Overrides covering every day walked make it official again.
    days = {D(2027, 1, 1) + dt.timedelta(days=i): i not in (0, 1, 2) for i in range(7)}
    assert calendar.provisional_basis(D(2026, 12, 30), D(2027, 1, 7), days) is None


async def test_deadline_endpoint_and_admin_overrides(infra, token_issuer, tokens):
    async with running_service(SERVICE, infra, token_issuer) as client:
        r = await client.get("/api/v1/cases/workdays/deadline", params={"start": "2026-09-25", "working_days": 15},
                             headers=tokens.clerk())
        assert r.status_code == 200 and r.json()["deadline_on"] == "2026-10-23"
        assert r.json()["deadline_provisional"] is False

        # Past chinese-calendar: computed anyway (New Year off by the statute), and marked so.
        r = await client.get("/api/v1/cases/workdays/deadline", params={"start": "2026-12-30", "working_days": 5},
                             headers=tokens.clerk())
        assert r.status_code == 200, r.text
        assert r.json()["deadline_on"] == "2027-01-07" and r.json()["deadline_provisional"] is True
        assert "2027" in r.json()["deadline_basis"]

        # Citizens cannot edit the calendar; admins can, and it is audited.
        body = {"is_workday": True, "reason": "调休上班"}
        assert (await client.put("/api/v1/cases/workdays/2027-01-02", json=body,
                                 headers=tokens.citizen())).status_code == 403
        assert (await client.put("/api/v1/cases/workdays/2027-01-02", json=body,
                                 headers=tokens.admin())).status_code == 200
        r = await client.get("/api/v1/cases/workdays/deadline", params={"start": "2026-12-30", "working_days": 5},
                             headers=tokens.clerk())
        # Received 12-30; 12-31, Saturday 01-02 worked, then 01-04 .. 01-06.
        assert r.status_code == 200 and r.json()["deadline_on"] == "2027-01-06"
        page = (await client.get("/api/v1/cases/workdays/overrides", headers=tokens.clerk())).json()
        assert page["total"] == 1
        audit = (await client.get("/api/v1/cases/audit-events", params={"entity": "workday_override"},
                                  headers=tokens.admin())).json()
        assert audit["total"] == 1


async def test_a_bad_schedule_is_refused_whole_naming_its_dates(infra, token_issuer, tokens):
    async with running_service(SERVICE, infra, token_issuer) as client:
        url = "/api/v1/cases/calendar/years/2027"
        bad = [
            ({**SCHEDULE_2027, "holidays": [*SCHEDULE_2027["holidays"], "2028-01-01"]}, "2028-01-01"),
            ({**SCHEDULE_2027, "adjusted_workdays": ["2027-02-15"]}, "2027-02-15"),            # a Monday
            ({**SCHEDULE_2027, "holidays": [*SCHEDULE_2027["holidays"], "2027-01-01"]}, "2027-01-01"),
            ({**SCHEDULE_2027, "adjusted_workdays": ["2027-02-06"]}, "2027-02-06"),            # also a holiday
            ({**SCHEDULE_2027, "holidays": [], "adjusted_workdays": []}, None),                  # empty
        ]
        for body, date in bad:
            r = await client.post(url, json=body, headers=tokens.admin())
            assert r.status_code == 422, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["code"] == "schedule_invalid"
            if date:
                assert date in r.json()["detail"] and any(e.get("date") == date for e in r.json()["errors"])
        r = await client.post(url, content=b"date,kind\n2027-01-01,holiday\nnot-a-date,holiday\n",
                              params={"notice_number": "x", "notice_date": "2026-11-10"},
                              headers={**tokens.admin(), "content-type": "text/csv"})
        assert r.status_code == 422 and "line 3" in r.json()["detail"]
        assert (await client.post(url, json=SCHEDULE_2027, headers=tokens.citizen())).status_code == 403
        async with client.app.state.sessionmaker() as s:
            assert (await s.execute(select(platform.outbox.c.id))).first() is None   # nothing half-applied
        r = await client.get("/api/v1/cases/calendar/years", headers=tokens.clerk())
        assert r.json()["total"] == 0

        # CSV works; a second import of the year is refused; a correction replaces it.
        csv_text = "date,kind\n" + "".join(f"{d},holiday\n" for d in SCHEDULE_2027["holidays"]) + \
            "".join(f"{d},workday\n" for d in SCHEDULE_2027["adjusted_workdays"])
        r = await client.post(url, content=csv_text.encode(), headers={**tokens.admin(), "content-type": "text/csv"},
                              params={"notice_number": SCHEDULE_2027["notice_number"], "notice_date": "2026-11-10"})
        assert r.status_code == 201, r.text
        assert r.json()["revision"] == 1 and len(r.json()["holidays"]) == 12
        r = await client.post(url, json=SCHEDULE_2027, headers=tokens.admin())
        assert r.status_code == 422 and r.json()["code"] == "schedule_exists"
        r = await client.put(url, json={**SCHEDULE_2027, "adjusted_workdays": ["2027-02-14"]}, headers=tokens.admin())
        assert r.status_code == 200 and r.json()["revision"] == 2 and r.json()["adjusted_workdays"] == ["2027-02-14"]
        r = await client.put("/api/v1/cases/calendar/years/2028", headers=tokens.admin(),
                             json={"notice_number": "x", "notice_date": "2027-11-01", "holidays": ["2028-01-01"]})
        assert r.status_code == 404


async def test_importing_the_schedule_moves_provisional_deadlines(infra, token_issuer, tokens, kit):
    with clock.pinned(dt.datetime(2026, 12, 20, 10, 0, tzinfo=clock.CHINA)):
        async with running_service(SERVICE, infra, token_issuer) as client:
            await kit.publish_item(client, limit=20)
            r = await client.post("/api/v1/cases/cases", json={"basic_code": kit.ITEM, "form_data": {}},
                                  headers=tokens.citizen())
            assert r.status_code == 201, r.text
            case = r.json()
            # Received Monday 12-21; 20 working days, New Year's Day off by the statute: 2027-01-19.
            assert case["received_on"] == "2026-12-21" and case["deadline_on"] == "2027-01-19"
            assert case["deadline_provisional"] is True and "2027" in case["deadline_basis"]

            status = (await client.get("/api/v1/cases/calendar/status", headers=tokens.clerk())).json()
            assert status["next_year"] == 2027 and status["next_year_missing"] is True
            async with client.app.state.sessionmaker() as s, s.begin():
                assert await calendar_flow.check_next_year(s, clock.today()) is True
            async with client.app.state.sessionmaker() as s, s.begin():
                assert await calendar_flow.check_next_year(s, clock.today()) is True   # alerted once a day
            metrics = (await client.get("/metrics")).text
            assert "calendar_next_year_missing 1.0" in metrics

            # The schedule says 01-02 and 01-03 are off too (a weekend anyway): nothing moves but the mark.
            r = await client.post("/api/v1/cases/calendar/years/2027", json=SCHEDULE_2027, headers=tokens.admin())
            assert r.status_code == 201, r.text
            assert await calendar_flow.recompute_pending(client.app.state.sessionmaker, batch=1) == 1
            assert await calendar_flow.recompute_pending(client.app.state.sessionmaker) == 0   # done, not redone
            after = (await client.get(f"/api/v1/cases/cases/{case['id']}", headers=tokens.citizen())).json()
            assert after["deadline_on"] == "2027-01-19" and after["deadline_provisional"] is False

            # A correction that takes 01-04 .. 01-08 off moves it a week, and the timeline says why.
            fixed = {**SCHEDULE_2027, "holidays": [*SCHEDULE_2027["holidays"], "2027-01-04", "2027-01-05",
                                                   "2027-01-06", "2027-01-07", "2027-01-08"]}
            assert (await client.put("/api/v1/cases/calendar/years/2027", json=fixed,
                                     headers=tokens.admin())).status_code == 200
            assert await calendar_flow.recompute_pending(client.app.state.sessionmaker) == 1
            after = (await client.get(f"/api/v1/cases/cases/{case['id']}", headers=tokens.citizen())).json()
            assert after["deadline_on"] == "2027-01-26" and after["deadline_provisional"] is False
            timeline = (await client.get(f"/api/v1/cases/cases/{case['id']}/timeline",
                                         headers=tokens.citizen())).json()["items"]
            submitted = next(e for e in timeline if e["action"] == "submit")
            assert submitted["detail"]["deadline_provisional"] is True and "2027" in submitted["detail"]["deadline_basis"]
            changes = [e for e in timeline if e["action"] == "deadline_changed"]
            assert [e["detail"]["deadline_on"] for e in changes] == ["2027-01-19", "2027-01-26"]
            assert "revision 2" in changes[-1]["reason"]
            async with client.app.state.sessionmaker() as s:
                subjects = (await s.execute(select(platform.outbox.c.subject))).scalars().all()
                assert subjects.count("cases.case.deadline_changed") == 2
                assert subjects.count("cases.calendar.schedule_imported") == 2
                assert subjects.count("cases.calendar.next_year_missing") == 1
                row = (await s.execute(select(Case).where(Case.id == case["id"]))).scalar_one()
                assert row.deadline_basis is None
            async with client.app.state.sessionmaker() as s, s.begin():
                assert await calendar_flow.check_next_year(s, clock.today()) is False
