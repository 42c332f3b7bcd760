"""Halls, the working-day calendar, closures and counters."""

import datetime as dt

import pytest
from sqlalchemy import select

from queue_helpers import BASE, YOUNG_ID, make_counter, make_hall, open_today, publish_item
from tongban.queue.consumers.cases import on_calendar_event
from tongban.queue.db import platform
from tongban.shared import clock
from tongban.shared.contracts.cases import CALENDAR_SCHEDULE_IMPORTED, CalendarScheduleImportedV1
from tongban.shared.events.envelope import make_event
from tongban.shared.testing.plugin import wait_for


async def test_hall_is_created_with_categories_and_audited(client, tokens):
    hall = await make_hall(client, tokens)
    assert [c["code"] for c in hall["categories"]] == ["A", "B", "C"]
    assert hall["opening_hours"]["1"] == {"opens": "00:00:00", "closes": "23:59:59"}
    page = (await client.get(f"{BASE}/halls", params={"region_code": "442000"})).json()
    assert page["total"] == 1 and page["items"][0]["id"] == hall["id"]
    audits = (await client.get(f"{BASE}/audit-events", headers=tokens.admin())).json()
    assert [a["action"] for a in audits["items"]] == ["hall.created"]


async def test_a_hall_is_changed_and_the_answer_shows_the_change(client, tokens):
    """A real change used to be a 500 (MissingGreenlet reading the refreshed `updated_at`) and was
    lost with the rolled-back transaction."""
    hall = await make_hall(client, tokens)
    change = {"name": "中山市民服务中心（东区）", "latitude": 22.52,
              "opening_hours": {"1": {"opens": "08:30", "closes": "17:30"}}}
    r = await client.patch(f"{BASE}/halls/{hall['id']}", headers=tokens.admin(), json=change)
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["name"] == change["name"] and changed["latitude"] == 22.52
    assert changed["opening_hours"] == {"1": {"opens": "08:30:00", "closes": "17:30:00"}}
    assert changed["updated_at"] >= hall["updated_at"] and changed["address"] == hall["address"]
    assert (await client.get(f"{BASE}/halls/{hall['id']}")).json() == changed
    audits = (await client.get(f"{BASE}/audit-events", headers=tokens.admin())).json()
    assert audits["items"][0]["action"] == "hall.updated"


@pytest.mark.parametrize("patch, field", [
    ({"latitude": 91}, "latitude"),
    ({"longitude": -180.5}, "longitude"),
    ({"region_code": "44200"}, "region_code"),
    ({"opening_hours": {"8": {"opens": "09:00", "closes": "17:00"}}}, "opening_hours"),
    ({"opening_hours": {"1": {"opens": "17:00", "closes": "09:00"}}}, "opening_hours.1"),
    ({"categories": [{"code": "a", "name": "x"}]}, "categories.0.code"),
])
async def test_bad_halls_are_refused_naming_the_field(client, tokens, patch, field):
    body = {"name": "x", "region_code": "442000", "address": "x", "latitude": 22.5, "longitude": 113.4,
            "opening_hours": {}, **patch}
    r = await client.post(f"{BASE}/halls", headers=tokens.admin(), json=body)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in r.json()["errors"]], r.json()


async def test_only_admins_manage_halls(client, tokens):
    hall = await make_hall(client, tokens)
    r = await client.post(f"{BASE}/halls", headers=tokens.clerk(hall["id"]), json={})
    assert r.status_code == 403 and r.json()["code"] == "not_permitted"
    assert (await client.post(f"{BASE}/halls", json={})).status_code == 401


async def test_calendar_uses_chinese_calendar_official_schedules_overrides_and_estimates(client, tokens):
    national_day = (await client.get(f"{BASE}/calendar/2026-10-01")).json()
    assert national_day == {"day": "2026-10-01", "is_working_day": False, "source": "chinese-calendar",
                            "provisional": False}
    makeup = (await client.get(f"{BASE}/calendar/2026-09-20")).json()  # a make-up working Sunday
    assert makeup["is_working_day"] is True
    # A year nobody has published: estimated, open on a weekday, marked provisional.
    unknown = (await client.get(f"{BASE}/calendar/2027-03-01")).json()
    assert unknown == {"day": "2027-03-01", "is_working_day": True, "source": "estimate", "provisional": True}
    assert (await client.get(f"{BASE}/calendar/2027-02-08")).json()["is_working_day"] is False  # Spring Festival

    # svc-cases imports the year's notice; the read copy follows its event (an older revision is ignored).
    for revision, holidays in ((2, ["2027-03-01"]), (1, ["2027-03-02"])):
        event = make_event("cases", CALENDAR_SCHEDULE_IMPORTED, CalendarScheduleImportedV1(
            year=2027, notice_number="国办发明电（测试）", notice_date=dt.date(2026, 11, 10),
            holidays=holidays, adjusted_workdays=[dt.date(2027, 2, 14)], revision=revision, at=clock.now()))
        async with client.app.state.sessionmaker() as s, s.begin():
            await on_calendar_event(s, event)
    assert (await client.get(f"{BASE}/calendar/2027-03-01")).json() == {
        "day": "2027-03-01", "is_working_day": False, "source": "official", "provisional": False}
    assert (await client.get(f"{BASE}/calendar/2027-03-02")).json()["is_working_day"] is True
    assert (await client.get(f"{BASE}/calendar/2027-02-14")).json()["is_working_day"] is True   # 调休 Sunday
    assert (await client.get(f"{BASE}/calendar/2027-02-08")).json()["source"] == "official"

    r = await client.post(f"{BASE}/calendar-overrides", headers=tokens.admin(),
                          json={"day": "2027-03-01", "is_working_day": True, "reason": "typhoon makeup"})
    assert r.status_code == 201
    known = (await client.get(f"{BASE}/calendar/2027-03-01")).json()
    assert known == {"day": "2027-03-01", "is_working_day": True, "source": "override", "provisional": False}


async def test_closed_hall_takes_no_remote_tickets(client, tokens):
    hall = await make_hall(client, tokens)
    r = await client.post(f"{BASE}/calendar-overrides", headers=tokens.admin(), json={
        "day": __import__("queue_helpers").local_today().isoformat(), "is_working_day": False, "reason": "typhoon"})
    assert r.status_code == 201
    t = await client.post(f"{BASE}/halls/{hall['id']}/tickets", headers=tokens.citizen(), json={"category": "A"})
    assert t.status_code == 409 and t.json()["code"] == "hall_closed"
    await open_today(client, tokens)
    t = await client.post(f"{BASE}/halls/{hall['id']}/tickets", headers=tokens.citizen(), json={"category": "A"})
    assert t.status_code == 201, t.text
    live = (await client.get(f"{BASE}/halls/{hall['id']}/live")).json()
    assert live["open"] is True


async def test_counter_skills_name_real_categories_and_catalogue_items(client, tokens, infra):
    hall = await make_hall(client, tokens)
    bad = await client.post(f"{BASE}/halls/{hall['id']}/counters", headers=tokens.admin(), json={
        "number": "1", "skills": [{"item_code": "442020000100", "weight": "high"}]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "skills.0.item_code"
    bad = await client.post(f"{BASE}/halls/{hall['id']}/counters", headers=tokens.admin(), json={
        "number": "1", "skills": [{"category": "Z"}]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "skills.0.category"


async def test_catalogue_events_fill_the_read_copy_used_by_skills(infra, token_issuer, tokens, clean_nats):
    from tongban.queue.main import SERVICE
    from tongban.shared.testing.plugin import running_service
    async with running_service(SERVICE, infra, token_issuer) as client:
        hall = await make_hall(client, tokens)
        await publish_item(infra, "442020000100", "居民身份证换领")

        async def accepted():
            r = await client.post(f"{BASE}/halls/{hall['id']}/counters", headers=tokens.admin(), json={
                "number": "9", "kind": "cross_city", "skills": [{"item_code": "442020000100", "weight": "high"}]})
            return r if r.status_code == 201 else None

        r = await wait_for(accepted)
        assert r.json()["skills"] == [{"category": None, "item_code": "442020000100", "weight": "high"}]


async def test_clerks_operate_only_counters_of_their_hall(client, tokens):
    hall = await make_hall(client, tokens)
    other = await make_hall(client, tokens, name="深圳市民中心")
    r = await client.post(f"{BASE}/halls/{hall['id']}/counters", headers=tokens.admin(),
                          json={"number": "1", "skills": [{"category": "A"}]})
    counter = r.json()
    assert counter["status"] == "closed"
    stranger = await client.post(f"{BASE}/counters/{counter['id']}/sign-in", headers=tokens.clerk(other["id"]))
    assert stranger.status_code == 403 and stranger.json()["code"] == "outside_scope"
    clerk = tokens.clerk(hall["id"])
    call = await client.post(f"{BASE}/counters/{counter['id']}/call-next", headers=clerk)
    assert call.status_code == 409 and call.json()["code"] == "counter_not_open"
    assert (await client.post(f"{BASE}/counters/{counter['id']}/sign-in", headers=clerk)).json()["status"] == "open"
    taken = await client.post(f"{BASE}/counters/{counter['id']}/sign-in", headers=tokens.clerk(hall["id"]))
    assert taken.status_code == 409 and taken.json()["code"] == "counter_taken"
    assert (await client.post(f"{BASE}/counters/{counter['id']}/pause", headers=clerk)).json()["status"] == "paused"
    paused = await client.post(f"{BASE}/counters/{counter['id']}/call-next", headers=clerk)
    assert paused.status_code == 409
    assert (await client.post(f"{BASE}/counters/{counter['id']}/resume", headers=clerk)).json()["status"] == "open"
    assert (await client.post(f"{BASE}/counters/{counter['id']}/call-next", headers=clerk)).status_code == 204
    # One counter per clerk: the second waits until the first is signed out.
    second = (await client.post(f"{BASE}/halls/{hall['id']}/counters", headers=tokens.admin(),
                                json={"number": "2", "skills": [{"category": "A"}]})).json()
    twice = await client.post(f"{BASE}/counters/{second['id']}/sign-in", headers=clerk)
    assert twice.status_code == 409 and twice.json()["code"] == "clerk_signed_in_elsewhere"
    out = await client.post(f"{BASE}/counters/{counter['id']}/sign-out", headers=clerk)
    assert out.json()["status"] == "closed"
    async with client.app.state.sessionmaker() as s:
        subjects = (await s.execute(select(platform.outbox.c.subject))).scalars().all()
    assert subjects == ["queue.counter.signed_in", "queue.counter.paused", "queue.counter.resumed",
                        "queue.counter.signed_out"]


async def test_closure_is_listed_and_closes_the_hall(client, tokens):
    import datetime as dt
    hall = await make_hall(client, tokens)
    await open_today(client, tokens)
    counter, clerk = await make_counter(client, tokens, hall["id"], "1", [{"category": "A"}])
    tickets = []
    for headers in (clerk, tokens.citizen(), clerk):
        t = await client.post(f"{BASE}/halls/{hall['id']}/tickets", headers=headers, json={"category": "A"})
        tickets.append(t.json())
    await client.post(f"{BASE}/counters/{counter['id']}/call-next", headers=clerk)  # the first is at the counter
    now = dt.datetime.now(dt.UTC)
    r = await client.post(f"{BASE}/halls/{hall['id']}/closures", headers=tokens.admin(), json={
        "starts_at": (now - dt.timedelta(hours=1)).isoformat(), "ends_at": (now + dt.timedelta(hours=1)).isoformat(),
        "reason": "power cut"})
    assert r.status_code == 201, r.text
    # Closed from now: the two still waiting are cancelled and their holders told; the one at the counter stays.
    assert r.json()["cancelled_tickets"] == 2
    async with client.app.state.sessionmaker() as s:
        told = (await s.execute(select(platform.outbox.c.envelope).where(
            platform.outbox.c.subject == "queue.ticket.cancelled"))).scalars().all()
    assert sorted(e["data"]["ticket_id"] for e in told) == sorted([tickets[1]["id"], tickets[2]["id"]])
    assert {e["data"]["reason"] for e in told} == {"hall closed: power cut"}
    assert {e["data"]["person_sub"] for e in told} == {None, f"citizen-{YOUNG_ID}"}
    at_counter = await client.get(f"{BASE}/tickets/{tickets[0]['id']}", headers=clerk)
    assert at_counter.json()["status"] == "called"
    live = (await client.get(f"{BASE}/halls/{hall['id']}/live")).json()
    assert live["open"] is False and live["open_reason"] == "closed"
    assert (await client.get(f"{BASE}/halls/{hall['id']}/closures")).json()["total"] == 1
    bad = await client.post(f"{BASE}/halls/{hall['id']}/closures", headers=tokens.admin(), json={
        "starts_at": now.isoformat(), "ends_at": (now - dt.timedelta(hours=1)).isoformat(), "reason": "x"})
    assert bad.status_code == 422


async def test_make_counter_helper_signs_in(client, tokens):
    hall = await make_hall(client, tokens)
    counter, _ = await make_counter(client, tokens, hall["id"], "7", [{"category": "A"}])
    assert counter["status"] == "open" and counter["skills"][0]["weight"] == "normal"
