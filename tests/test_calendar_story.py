"""The clock never stops the city, end to end through the gateway: with the platform running as
if on 2026-12-20 (TONGBAN_CLOCK_START, the shared clock's start for a whole process), a citizen
applies for a 20-working-day item; the deadline lands in January 2027, a year chinese-calendar
does not know, so it is computed by the estimate and marked provisional. An admin imports the
2027 schedule; the deadline moves by it and the case's timeline says why."""


import httpx
import pytest

from tongban.cases.main import SERVICE as CASES
from tongban.catalog.main import SERVICE as CATALOG
from tongban.gateway import seed as gateway_seed
from tongban.gateway.main import SERVICE as GATEWAY
from tongban.shared.db import make_engine, make_sessionmaker
from tongban.shared.testing.plugin import platform_processes, wait_for

AS_OF = "2026-12-20T10:00:00+08:00"      # a Sunday: received on Monday 12-21
DEPARTMENT = "11442000MB0000002B"        # the demo approver's department (gateway seed)
ITEM = {"basic_code": "442020000905", "name": "临时救助申请（日历测试）", "exercise_level": 4,
        "case_type": "promised", "statutory_limit": 20, "statutory_limit_unit": "working_day",
        "promised_limit": 20, "promised_limit_unit": "working_day",
        "implementing_body": "中山市民政局", "implementing_body_credit_code": DEPARTMENT}
# Test data shaped like a State Council notice (not the real 2027 one): 01-04 .. 01-08 made holidays
# so the deadline visibly moves.
SCHEDULE = {"notice_number": "国办发明电〔2026〕（测试）", "notice_date": "2026-12-21",
            "holidays": ["2027-01-01", "2027-01-02", "2027-01-03", "2027-01-04", "2027-01-05", "2027-01-06",
                         "2027-01-07", "2027-01-08", "2027-02-06", "2027-02-07", "2027-02-08", "2027-02-09"],
            "adjusted_workdays": ["2027-02-20"]}


@pytest.fixture
async def platform(infra, clean_nats, tmp_path):
    definitions = [GATEWAY, CATALOG, CASES]
    urls = {d.name: infra.fresh_database(d) for d in definitions}
    engine = make_engine(urls["gateway"], 2)
    await gateway_seed.seed(make_sessionmaker(engine))
    await engine.dispose()
    # Every process starts its shared clock as on AS_OF (development only).
    async with platform_processes(infra, definitions, urls, tmp_path,
                                  extra=lambda name, at: {"TONGBAN_CLOCK_START": AS_OF}) as at:
        async with httpx.AsyncClient(headers={"Accept-Language": "en"}, base_url=at["gateway"], timeout=10) as client:
            yield client


async def login(client, username, password):
    r = await client.post("/auth/token", data={"grant_type": "password", "username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_a_deadline_into_an_unpublished_year_is_provisional_then_follows_the_notice(platform):
    client = platform
    admin = await login(client, "admin", "Admin#2026")
    r = await client.post("/api/v1/catalog/items", json=ITEM, headers={**admin, "Idempotency-Key": "cal-item"})
    assert r.status_code == 201, r.text
    item_id = r.json()["id"]
    r = await client.post(f"/api/v1/catalog/items/{item_id}/implementations",
                          headers={**admin, "Idempotency-Key": "cal-impl"},
                          json={"code": DEPARTMENT + "4" + ITEM["basic_code"], "city_code": "442000",
                                "implementing_body": "中山市民政局", "promised_limit": 20,
                                "promised_limit_unit": "working_day", "statutory_limit": 20,
                                "statutory_limit_unit": "working_day", "handling_forms": ["window", "mobile"],
                                "visits": 0, "online_depth": 4, "flags": {"fully_online": True}})
    assert r.status_code == 201, r.text

    async def copied():
        page = (await client.get("/api/v1/cases/items", params={"limit": 200})).json()
        return any(i["basic_code"] == ITEM["basic_code"] for i in page["items"])

    await wait_for(copied, timeout=20)
    status = (await client.get("/api/v1/cases/calendar/status", headers=admin)).json()
    assert status["today"] == "2026-12-20" and status["next_year"] == 2027 and status["next_year_missing"] is True

    citizen = await login(client, "citizen", "Citizen#2026")

    async def submitted():
        r = await client.post("/api/v1/cases/cases", json={"basic_code": ITEM["basic_code"], "form_data": {}},
                              headers={**citizen, "Idempotency-Key": "cal-case"})
        return r.json() if r.status_code == 201 else None   # the implementation's copy may trail the item's

    case = await wait_for(submitted, timeout=20)
    assert case["state"] == "submitted" and case["received_on"] == "2026-12-21"
    # 8 working days left in 2026, then January by the estimate (New Year's Day off): the 20th is 01-19.
    assert case["deadline_on"] == "2027-01-19"
    assert case["deadline_provisional"] is True and case["deadline_basis"].startswith("2027:")

    r = await client.post("/api/v1/cases/calendar/years/2027", json=SCHEDULE, headers=admin)
    assert r.status_code == 201, r.text

    async def moved():
        now = (await client.get(f"/api/v1/cases/cases/{case['id']}", headers=citizen)).json()
        return now if now["deadline_on"] != case["deadline_on"] else None

    after = await wait_for(moved, timeout=30)
    # 01-04 .. 01-08 are holidays now: a week later, and official.
    assert after["deadline_on"] == "2027-01-26" and after["deadline_provisional"] is False
    timeline = (await client.get(f"/api/v1/cases/cases/{case['id']}/timeline", headers=citizen)).json()["items"]
    [change] = [e for e in timeline if e["action"] == "deadline_changed"]
    assert "2027 official holiday schedule imported" in change["reason"]
    assert change["detail"] == {"previous_deadline_on": "2027-01-19", "deadline_on": "2027-01-26",
                                "deadline_provisional": False}
    status = (await client.get("/api/v1/cases/calendar/status", headers=admin)).json()
    assert status["official_years"] == [2027] and status["next_year_missing"] is False
