"""The working-day calendar: chinese-calendar, the override table, and loud failure past both."""

import datetime as dt

import pytest

from tongban.cases.main import SERVICE
from tongban.cases.workday import calendar
from tongban.cases.workday.errors import UnknownCalendarDate
from tongban.shared.testing.plugin import running_service


def test_fifteen_working_days_from_mid_autumn_2026():
    # 2026-09-25 is the Mid-Autumn holiday: received on Monday 09-28; National Day week off;
    # Saturday 10-10 is a make-up working day.
    assert calendar.add_working_days(dt.date(2026, 9, 25), 15, {}) == dt.date(2026, 10, 23)
    assert calendar.receipt_day(dt.date(2026, 9, 25), {}) == dt.date(2026, 9, 28)
    assert calendar.working_days_between(dt.date(2026, 9, 30), dt.date(2026, 10, 11), {}) == 3


def test_a_date_nobody_knows_is_an_error_not_a_guess():
    with pytest.raises(UnknownCalendarDate, match="2027-01-04"):
        calendar.is_workday(dt.date(2027, 1, 4), {})
    assert calendar.is_workday(dt.date(2027, 1, 4), {dt.date(2027, 1, 4): True}) is True


async def test_deadline_endpoint_and_admin_overrides(infra, token_issuer, tokens):
    async with running_service(SERVICE, infra, token_issuer) as client:
        r = await client.get("/api/v1/cases/workdays/deadline", params={"start": "2026-09-25", "working_days": 15},
                             headers=tokens.clerk())
        assert r.status_code == 200 and r.json()["deadline_on"] == "2026-10-23"

        r = await client.get("/api/v1/cases/workdays/deadline", params={"start": "2026-12-30", "working_days": 5},
                             headers=tokens.clerk())
        assert r.status_code == 503
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "calendar_date_unknown" and r.json()["date"] == "2027-01-01"

        # Citizens cannot edit the calendar; admins can, and it is audited.
        body = {"is_workday": False, "reason": "元旦"}
        assert (await client.put("/api/v1/cases/workdays/2027-01-01", json=body,
                                 headers=tokens.citizen())).status_code == 403
        assert (await client.put("/api/v1/cases/workdays/2027-01-01", json=body,
                                 headers=tokens.admin())).status_code == 200
        for day in ("2027-01-04", "2027-01-05", "2027-01-06", "2027-01-07", "2027-01-08"):
            r = await client.put(f"/api/v1/cases/workdays/{day}", json={"is_workday": True, "reason": "工作日"},
                                 headers=tokens.admin())
            assert r.status_code == 200
        for day in ("2027-01-02", "2027-01-03"):
            await client.put(f"/api/v1/cases/workdays/{day}", json={"is_workday": False, "reason": "周末"},
                             headers=tokens.admin())
        r = await client.get("/api/v1/cases/workdays/deadline", params={"start": "2026-12-30", "working_days": 5},
                             headers=tokens.clerk())
        # Received 12-30; 12-31, then 01-04 .. 01-07.
        assert r.status_code == 200 and r.json()["deadline_on"] == "2027-01-07"
        page = (await client.get("/api/v1/cases/workdays/overrides", headers=tokens.clerk())).json()
        assert page["total"] == 8
        audit = (await client.get("/api/v1/cases/audit-events", params={"entity": "workday_override"},
                                  headers=tokens.admin())).json()
        assert audit["total"] == 8
