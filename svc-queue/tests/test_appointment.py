"""Appointments (云预约): holds, capacity, the booking window, one per day, penalties, closures,
check-in with a priority ticket."""

import datetime as dt
import uuid

from sqlalchemy import select, update

from queue_helpers import BASE, OLD_ID, YOUNG_ID, make_counter, make_hall, open_today, local_today
from tongban.queue.appointment.models import Appointment
from tongban.queue.db import platform
from tongban.queue.main import SERVICE
from tongban.shared.testing.plugin import running_service

TOMORROW = local_today() + dt.timedelta(days=1)


async def setup_hall(client, tokens, capacity=2, day=TOMORROW, starts="09:00", ends="10:00") -> tuple[dict, dict]:
    r = await client.post(f"{BASE}/calendar-overrides", headers=tokens.admin(),
                          json={"day": day.isoformat(), "is_working_day": True, "reason": "test"})
    assert r.status_code == 201
    hall = await make_hall(client, tokens)
    t = await client.post(f"{BASE}/halls/{hall['id']}/slot-templates", headers=tokens.admin(), json={
        "category": "A", "weekday": day.isoweekday(), "starts": starts, "ends": ends, "capacity": capacity})
    assert t.status_code == 201, t.text
    return hall, t.json()


async def book(client, headers, template_id, day=TOMORROW, **extra):
    return await client.post(f"{BASE}/appointments", headers=headers,
                             json={"template_id": template_id, "day": day.isoformat(), **extra})


async def outbox_events(client, subject):
    async with client.app.state.sessionmaker() as s:
        return (await s.execute(select(platform.outbox.c.envelope).where(platform.outbox.c.subject == subject)
                                .order_by(platform.outbox.c.created_at))).scalars().all()


async def test_hold_confirm_capacity_window_and_one_per_day(client, tokens):
    hall, tpl = await setup_hall(client, tokens, capacity=2)
    young, old = tokens.citizen(YOUNG_ID), tokens.citizen(OLD_ID)
    slots = (await client.get(f"{BASE}/halls/{hall['id']}/slots", params={"day": TOMORROW.isoformat()})).json()
    assert slots["items"][0]["available"] == 2

    held = await book(client, young, tpl["id"])
    assert held.status_code == 201 and held.json()["status"] == "held" and held.json()["hold_expires_at"]
    confirmed = await client.post(f"{BASE}/appointments/{held.json()['id']}/confirm", headers=young)
    assert confirmed.json()["status"] == "confirmed"
    assert (await book(client, old, tpl["id"])).status_code == 201
    full = await book(client, tokens.citizen("442000198001010014"), tpl["id"])
    assert full.status_code == 409 and full.json()["code"] == "slot_full"
    assert full.headers["content-type"] == "application/problem+json"

    again = await book(client, young, tpl["id"])
    assert again.status_code == 409 and again.json()["code"] == "already_booked"
    far = await book(client, young, tpl["id"], local_today() + dt.timedelta(days=21))
    assert far.status_code == 422 and far.json()["errors"][0]["field"] == "day"
    wrong_weekday = await book(client, young, tpl["id"], TOMORROW + dt.timedelta(days=1))
    assert wrong_weekday.status_code == 422

    stranger = await client.get(f"{BASE}/appointments/{held.json()['id']}", headers=old)
    assert stranger.status_code == 403
    assert (await client.get(f"{BASE}/appointments/mine", headers=young)).json()["total"] == 1
    events = await outbox_events(client, "queue.appointment.confirmed")
    assert len(events) == 1 and "id_number" not in events[0]["data"]

    # The hall's clerks see its bookings of a day (ID numbers masked); nobody else does.
    day = {"day": TOMORROW.isoformat()}
    listed = await client.get(f"{BASE}/halls/{hall['id']}/appointments", headers=tokens.clerk(hall["id"]), params=day)
    assert listed.status_code == 200 and listed.json()["total"] == 2
    assert {a["id_number"] for a in listed.json()["items"]} == {"442000********0011", "442000********0013"}
    other = await make_hall(client, tokens, name="别的大厅")
    for outsider in (tokens.clerk(other["id"]), young):
        r = await client.get(f"{BASE}/halls/{hall['id']}/appointments", headers=outsider, params=day)
        assert r.status_code == 403


async def test_an_expired_hold_frees_its_place_and_cannot_be_confirmed(client, tokens):
    hall, tpl = await setup_hall(client, tokens, capacity=1)
    young = tokens.citizen(YOUNG_ID)
    held = (await book(client, young, tpl["id"])).json()
    async with client.app.state.sessionmaker() as s, s.begin():  # ten minutes later
        await s.execute(update(Appointment).values(hold_expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    late = await client.post(f"{BASE}/appointments/{held['id']}/confirm", headers=young)
    assert late.status_code == 409 and late.json()["code"] == "hold_expired"
    assert (await book(client, tokens.citizen(OLD_ID), tpl["id"])).status_code == 201
    # The sweep records the lapse and tells the person.
    swept = await client.post(f"{BASE}/appointments/sweep", headers=tokens.admin())
    assert swept.json()["expired_holds"] == 1
    told = await outbox_events(client, "queue.appointment.expired")
    assert [(e["data"]["appointment_id"], e["data"]["person_sub"]) for e in told] == [
        (held["id"], f"citizen-{YOUNG_ID}")]


async def test_cancel_and_reschedule(client, tokens):
    hall, tpl = await setup_hall(client, tokens, capacity=1)
    later = await client.post(f"{BASE}/halls/{hall['id']}/slot-templates", headers=tokens.admin(), json={
        "category": "A", "weekday": TOMORROW.isoweekday(), "starts": "14:00", "ends": "15:00", "capacity": 1})
    young = tokens.citizen(YOUNG_ID)
    appt = (await book(client, young, tpl["id"])).json()
    await client.post(f"{BASE}/appointments/{appt['id']}/confirm", headers=young)
    moved = await client.post(f"{BASE}/appointments/{appt['id']}/reschedule", headers=young,
                              json={"template_id": later.json()["id"], "day": TOMORROW.isoformat()})
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "confirmed" and moved.json()["starts"] == "14:00:00"
    old = (await client.get(f"{BASE}/appointments/{appt['id']}", headers=young)).json()
    assert old["status"] == "cancelled" and old["cancel_reason"] == "rescheduled"
    # The freed morning place can be booked by someone else; the afternoon one is taken.
    assert (await book(client, tokens.citizen(OLD_ID), tpl["id"])).status_code == 201
    cancelled = await client.post(f"{BASE}/appointments/{moved.json()['id']}/cancel", headers=young)
    assert cancelled.json()["status"] == "cancelled"
    twice = await client.post(f"{BASE}/appointments/{moved.json()['id']}/cancel", headers=young)
    assert twice.status_code == 409


async def test_no_shows_suspend_booking_and_the_sweep_records_them(client, tokens):
    hall, tpl = await setup_hall(client, tokens, capacity=5)
    young = tokens.citizen(YOUNG_ID)
    appt = (await book(client, young, tpl["id"])).json()
    await client.post(f"{BASE}/appointments/{appt['id']}/confirm", headers=young)
    async with client.app.state.sessionmaker() as s, s.begin():  # the day passes without a check-in
        await s.execute(update(Appointment).where(Appointment.id == uuid.UUID(appt["id"]))
                        .values(day=local_today() - dt.timedelta(days=1)))
        for days_ago in (3, 9):  # two earlier no-shows this month
            s.add(Appointment(hall_id=uuid.UUID(hall["id"]), template_id=uuid.UUID(tpl["id"]), category="A",
                              day=local_today() - dt.timedelta(days=days_ago), starts=dt.time(9), ends=dt.time(10),
                              person_sub="someone", person_key=YOUNG_ID, id_number=YOUNG_ID, status="missed",
                              missed_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)))
    swept = await client.post(f"{BASE}/appointments/sweep", headers=tokens.admin())
    assert swept.json() == {"expired_holds": 0, "missed": 1, "reminded": 0}
    assert [e["data"]["appointment_id"] for e in await outbox_events(client, "queue.appointment.missed")] == [appt["id"]]
    refused = await book(client, young, tpl["id"])
    assert refused.status_code == 403 and refused.json()["code"] == "booking_suspended"
    assert "suspended_until" in refused.json()
    assert (await book(client, tokens.citizen(OLD_ID), tpl["id"])).status_code == 201


async def test_hall_closure_cancels_its_bookings_and_tells_each_person(client, tokens):
    hall, tpl = await setup_hall(client, tokens, capacity=5)
    subs = []
    for id_number in (YOUNG_ID, OLD_ID):
        h = tokens.citizen(id_number)
        a = (await book(client, h, tpl["id"])).json()
        await client.post(f"{BASE}/appointments/{a['id']}/confirm", headers=h)
        subs.append(f"citizen-{id_number}")
    start = dt.datetime.combine(TOMORROW, dt.time(0), tzinfo=dt.timezone(dt.timedelta(hours=8)))
    r = await client.post(f"{BASE}/halls/{hall['id']}/closures", headers=tokens.admin(), json={
        "starts_at": start.isoformat(), "ends_at": (start + dt.timedelta(days=1)).isoformat(), "reason": "台风"})
    assert r.status_code == 201 and r.json()["cancelled_appointments"] == 2
    told = await outbox_events(client, "queue.appointment.cancelled")
    assert sorted(e["data"]["person_sub"] for e in told) == sorted(subs)
    assert all(e["data"]["reason"] == "hall closed: 台风" for e in told)
    assert len(await outbox_events(client, "queue.hall.closed")) == 1
    closed_day = await book(client, tokens.citizen("442000198001010014"), tpl["id"])
    assert closed_day.status_code == 422


async def test_check_in_gives_a_priority_ticket_called_first(infra, token_issuer, clean_nats):
    from queue_helpers import Tokens
    tokens = Tokens(token_issuer)
    # Check-in opens two days before the slot here, so the test can book tomorrow and check in now.
    async with running_service(SERVICE, infra, token_issuer, run_worker=False, checkin_early_minutes=2880) as client:
        await open_today(client, tokens)
        hall, tpl = await setup_hall(client, tokens, starts="23:00", ends="23:59:59")
        counter, clerk = await make_counter(client, tokens, hall["id"], "1", [{"category": "A"}])
        walk_in = await client.post(f"{BASE}/halls/{hall['id']}/tickets", headers=clerk, json={"category": "A"})
        young = tokens.citizen(YOUNG_ID)
        # The person prefilled a draft case in the mini-program: the clerk gets it with the call.
        appt = (await book(client, young, tpl["id"], case_id="draft-7f3a")).json()
        assert appt["case_id"] == "draft-7f3a"
        early = await client.post(f"{BASE}/appointments/{appt['id']}/check-in", headers=young)
        assert early.status_code == 409 and early.json()["code"] == "appointment_not_active"
        await client.post(f"{BASE}/appointments/{appt['id']}/confirm", headers=young)
        r = await client.post(f"{BASE}/appointments/{appt['id']}/check-in", headers=clerk)
        assert r.status_code == 200, r.text
        ticket = r.json()["ticket"]
        assert ticket["priority_reason"] == "appointment" and ticket["channel"] == "appointment"
        assert r.json()["appointment"]["status"] == "checked_in"
        first = await client.post(f"{BASE}/counters/{counter['id']}/call-next", headers=clerk)
        assert first.json()["id"] == ticket["id"] != walk_in.json()["id"]
        assert first.json()["case_id"] == "draft-7f3a"
        checked_in = await outbox_events(client, "queue.appointment.checked_in")
        assert checked_in[0]["data"]["case_id"] == "draft-7f3a"
        mine = (await client.get(f"{BASE}/tickets/{ticket['id']}", headers=young)).json()
        assert mine["id_number"] == YOUNG_ID


async def test_confirmed_appointments_are_reminded_once(infra, token_issuer, clean_nats):
    from queue_helpers import Tokens
    tokens = Tokens(token_issuer)
    async with running_service(SERVICE, infra, token_issuer, run_worker=False, reminder_hours=48) as client:
        hall, tpl = await setup_hall(client, tokens)
        young, old = tokens.citizen(YOUNG_ID), tokens.citizen(OLD_ID)
        confirmed = (await book(client, young, tpl["id"])).json()
        await client.post(f"{BASE}/appointments/{confirmed['id']}/confirm", headers=young)
        await book(client, old, tpl["id"])  # only held: no reminder
        first = await client.post(f"{BASE}/appointments/sweep", headers=tokens.admin())
        assert first.json()["reminded"] == 1
        again = await client.post(f"{BASE}/appointments/sweep", headers=tokens.admin())
        assert again.json()["reminded"] == 0
        reminders = await outbox_events(client, "queue.appointment.reminded")
        assert [(e["data"]["appointment_id"], e["data"]["person_sub"]) for e in reminders] == [
            (confirmed["id"], f"citizen-{YOUNG_ID}")]
