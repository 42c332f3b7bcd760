"""Tickets: numbers, priority, skill weights, what a counter does with a ticket, positions."""

import datetime as dt
import uuid

from sqlalchemy import select

from queue_helpers import BASE, OLD_ID, YOUNG_ID, make_counter, make_hall, open_today
from tongban.queue.catalog_copy.models import CatalogItem
from tongban.queue.db import platform


async def take(client, hall_id, headers, category="A", **extra) -> dict:
    r = await client.post(f"{BASE}/halls/{hall_id}/tickets", headers=headers, json={"category": category, **extra})
    assert r.status_code == 201, r.text
    return r.json()


async def call(client, counter_id, clerk, **body):
    r = await client.post(f"{BASE}/counters/{counter_id}/call-next", headers=clerk, json=body or None)
    assert r.status_code in (200, 204), r.text
    return r.json() if r.status_code == 200 else None


async def test_numbers_run_per_category_and_calls_follow_priority_then_arrival(client, tokens):
    hall = await make_hall(client, tokens)
    h = hall["id"]
    counter, clerk = await make_counter(client, tokens, h, "1", [{"category": "A"}, {"category": "B"}])
    a1 = await take(client, h, clerk)
    b1 = await take(client, h, clerk, "B")
    a2 = await take(client, h, clerk, green_reason="disabled")
    a3 = await take(client, h, clerk)
    assert [a1["number"], b1["number"], a2["number"], a3["number"]] == ["A001", "B001", "A002", "A003"]
    assert a2["priority"] == 1 and a2["priority_reason"] == "disabled" and a1["channel"] == "on_site"
    order = [(await call(client, counter["id"], clerk))["number"] for _ in range(4)]
    assert order == ["A002", "A001", "B001", "A003"]
    assert await call(client, counter["id"], clerk) is None
    served = (await client.get(f"{BASE}/tickets/{a3['id']}", headers=clerk)).json()
    assert served["status"] == "done"


async def test_skill_weights_decide_before_priority_and_exclude_means_never(client, tokens, infra):
    hall = await make_hall(client, tokens)
    h = hall["id"]
    async with client.app.state.sessionmaker() as s, s.begin():  # as the catalogue consumer would
        s.add(CatalogItem(item_id=uuid.uuid4(), basic_code="442020000777", name="x", item_type="20", version=1))
    counter, clerk = await make_counter(client, tokens, h, "8", [
        {"category": "A", "weight": "low"}, {"category": "C", "weight": "high"},
        {"item_code": "442020000777", "weight": "exclude"}])
    a_green = await take(client, h, clerk, "A", green_reason="elderly")
    excluded = await take(client, h, clerk, "C", item_code="442020000777")
    c_normal = await take(client, h, clerk, "C")
    b = await take(client, h, clerk, "B")
    first = await call(client, counter["id"], clerk)
    second = await call(client, counter["id"], clerk)
    assert [first["id"], second["id"]] == [c_normal["id"], a_green["id"]]
    assert await call(client, counter["id"], clerk) is None  # B is not a skill; the item is excluded
    waiting = (await client.get(f"{BASE}/halls/{h}/tickets", headers=clerk, params={"status": "waiting"})).json()
    assert {t["id"] for t in waiting["items"]} == {excluded["id"], b["id"]}


async def test_counter_actions_recall_skip_start_finish_transfer_and_rating(client, tokens):
    await open_today(client, tokens)
    hall = await make_hall(client, tokens)
    h = hall["id"]
    c1, clerk1 = await make_counter(client, tokens, h, "1", [{"category": "A"}])
    c2, clerk2 = await make_counter(client, tokens, h, "2", [{"category": "B"}])
    citizen = tokens.citizen(YOUNG_ID)
    mine = await take(client, h, citizen, case_id="draft-42")
    assert mine["channel"] == "remote" and mine["id_number"] == YOUNG_ID and mine["ahead"] == 0
    other = await take(client, h, clerk1)

    called = await call(client, c1["id"], clerk1)
    assert called["id"] == mine["id"] and called["id_number"] == "442000********0011"
    recalled = (await client.post(f"{BASE}/counters/{c1['id']}/recall", headers=clerk1)).json()
    assert recalled["call_count"] == 2
    started = (await client.post(f"{BASE}/counters/{c1['id']}/start", headers=clerk1, json={})).json()
    assert started["status"] == "serving" and started["case_id"] == "draft-42"
    # Sent on to category B: it keeps its place and counter 2 calls it.
    moved = await client.post(f"{BASE}/counters/{c1['id']}/transfer", headers=clerk1, json={"category": "B"})
    assert moved.json()["status"] == "waiting" and moved.json()["category"] == "B"
    assert (await call(client, c2["id"], clerk2))["id"] == mine["id"]
    early = await client.post(f"{BASE}/tickets/{mine['id']}/rating", headers=citizen, json={"rating": 5})
    assert early.status_code == 409
    done = await client.post(f"{BASE}/counters/{c2['id']}/finish", headers=clerk2, json={"case_id": "C-2026-1"})
    assert done.json()["status"] == "done" and done.json()["case_id"] == "C-2026-1"
    keyed = {**citizen, "Idempotency-Key": "rate-1"}
    rated = await client.post(f"{BASE}/tickets/{mine['id']}/rating", headers=keyed, json={"rating": 5})
    assert rated.status_code == 200 and rated.json()["rating"] == 5
    retried = await client.post(f"{BASE}/tickets/{mine['id']}/rating", headers=keyed, json={"rating": 5})
    assert retried.status_code == 200 and retried.headers["idempotent-replayed"] == "true"
    # Only the holder rates: the clerk who served it cannot.
    clerk_rates = await client.post(f"{BASE}/tickets/{mine['id']}/rating", headers=clerk2, json={"rating": 5})
    assert clerk_rates.status_code == 403
    again = await client.post(f"{BASE}/tickets/{mine['id']}/rating", headers=citizen, json={"rating": 1})
    assert again.status_code == 409 and again.json()["code"] == "already_rated"
    bad = await client.post(f"{BASE}/tickets/{mine['id']}/rating", headers=citizen, json={"rating": 6})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "rating"

    assert (await call(client, c1["id"], clerk1))["id"] == other["id"]
    skipped = await client.post(f"{BASE}/counters/{c1['id']}/skip", headers=clerk1)
    assert skipped.json()["status"] == "no_show"
    nothing = await client.post(f"{BASE}/counters/{c1['id']}/recall", headers=clerk1)
    assert nothing.status_code == 409 and nothing.json()["code"] == "no_current_ticket"

    # Transfer to a named counter: that counter calls it before anything else.
    third = await take(client, h, clerk1)
    await call(client, c1["id"], clerk1)
    await client.post(f"{BASE}/counters/{c1['id']}/transfer", headers=clerk1, json={"counter_id": c2["id"]})
    assert (await call(client, c2["id"], clerk2))["id"] == third["id"]

    async with client.app.state.sessionmaker() as s:
        subjects = (await s.execute(select(platform.outbox.c.subject).where(
            platform.outbox.c.subject.like("queue.ticket.%")))).scalars().all()
    for expected in ("queue.ticket.issued", "queue.ticket.called", "queue.ticket.started", "queue.ticket.transferred",
                     "queue.ticket.finished", "queue.ticket.rated", "queue.ticket.skipped"):
        assert expected in subjects


async def test_ticket_is_seen_by_its_holder_and_hall_clerks_only(client, tokens):
    await open_today(client, tokens)
    hall = await make_hall(client, tokens)
    other_hall = await make_hall(client, tokens, name="另一个大厅")
    mine = await take(client, hall["id"], tokens.citizen(YOUNG_ID))
    stranger = await client.get(f"{BASE}/tickets/{mine['id']}", headers=tokens.citizen(OLD_ID))
    assert stranger.status_code == 403
    assert (await client.get(f"{BASE}/tickets/{mine['id']}", headers=tokens.clerk(other_hall["id"]))).status_code == 403
    seen = (await client.get(f"{BASE}/tickets/{mine['id']}", headers=tokens.clerk(hall["id"]))).json()
    assert seen["id_number"] == "442000********0011"
    again = await client.post(f"{BASE}/halls/{hall['id']}/tickets", headers=tokens.citizen(YOUNG_ID),
                              json={"category": "A"})
    assert again.status_code == 409 and again.json()["code"] == "already_queued"
    assert (await client.get(f"{BASE}/tickets/mine", headers=tokens.citizen(YOUNG_ID))).json()["total"] == 1
    cancelled = await client.post(f"{BASE}/tickets/{mine['id']}/cancel", headers=tokens.citizen(YOUNG_ID))
    assert cancelled.json()["status"] == "cancelled"
    async with client.app.state.sessionmaker() as s:
        told = (await s.execute(select(platform.outbox.c.envelope).where(
            platform.outbox.c.subject == "queue.ticket.cancelled"))).scalars().all()
    assert [e["data"]["ticket_id"] for e in told] == [mine["id"]]
    # A case reference is an id or a number, not free text.
    bad = await client.post(f"{BASE}/halls/{hall['id']}/tickets", headers=tokens.citizen(OLD_ID),
                            json={"category": "A", "case_id": "<script>"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "case_id"


async def test_elderly_citizens_get_the_green_channel_and_positions_and_approach_events(client, tokens):
    await open_today(client, tokens)
    hall = await make_hall(client, tokens)
    h = hall["id"]
    counter, clerk = await make_counter(client, tokens, h, "1", [{"category": "A"}])
    walk_ins = [await take(client, h, clerk) for _ in range(5)]
    young = await take(client, h, tokens.citizen(YOUNG_ID))
    assert young["ahead"] == 5 and young["priority"] == 0
    later = await take(client, h, tokens.citizen("442000198001010014"))
    old = await take(client, h, tokens.citizen(OLD_ID))
    assert old["priority_reason"] == "elderly" and old["ahead"] == 0
    young = (await client.get(f"{BASE}/tickets/{young['id']}", headers=tokens.citizen(YOUNG_ID))).json()
    assert young["ahead"] == 6  # the elderly person went before
    r = await client.post(f"{BASE}/halls/{h}/tickets", headers=tokens.citizen(YOUNG_ID, sub="x"),
                          json={"category": "B", "green_reason": "disabled"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "green_reason"
    await call(client, counter["id"], clerk)      # the elderly person
    for _ in range(2):
        await call(client, counter["id"], clerk)  # two walk-ins
    position = (await client.get(f"{BASE}/tickets/{young['id']}", headers=tokens.citizen(YOUNG_ID))).json()
    assert position["ahead"] == 3 and position["estimated_wait_seconds"] is not None
    async with client.app.state.sessionmaker() as s:
        approaching = (await s.execute(select(platform.outbox.c.envelope).where(
            platform.outbox.c.subject == "queue.ticket.approaching"))).scalars().all()
    assert [e["data"]["ticket_id"] for e in approaching] == [young["id"]]
    assert approaching[0]["data"]["ahead"] == 3 and "id_number" not in approaching[0]["data"]
    # Someone ahead gives up: the next remote holder moves up to 3 ahead and is told as well.
    assert (await client.post(f"{BASE}/tickets/{walk_ins[2]['id']}/cancel", headers=clerk)).status_code == 200
    async with client.app.state.sessionmaker() as s:
        approaching = (await s.execute(select(platform.outbox.c.envelope).where(
            platform.outbox.c.subject == "queue.ticket.approaching"))).scalars().all()
    assert [(e["data"]["ticket_id"], e["data"]["ahead"]) for e in approaching] == [(young["id"], 3), (later["id"], 3)]


async def test_item_ticket_needs_a_catalogue_item_and_unknown_category_is_404(client, tokens, infra):
    hall = await make_hall(client, tokens)
    clerk = tokens.clerk(hall["id"])
    r = await client.post(f"{BASE}/halls/{hall['id']}/tickets", headers=clerk,
                          json={"category": "A", "item_code": "442020000999"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "item_code"
    r = await client.post(f"{BASE}/halls/{hall['id']}/tickets", headers=clerk, json={"category": "Q"})
    assert r.status_code == 404 and r.json()["code"] == "category_not_found"
    admin_ticket = await client.post(f"{BASE}/halls/{hall['id']}/tickets", headers=tokens.admin(), json={"category": "A"})
    assert admin_ticket.status_code == 403


async def test_idempotent_ticket_taking(client, tokens):
    hall = await make_hall(client, tokens)
    clerk = {**tokens.clerk(hall["id"], sub="clerk-fixed"), "Idempotency-Key": "kiosk-press-1"}
    a = await client.post(f"{BASE}/halls/{hall['id']}/tickets", headers=clerk, json={"category": "A"})
    b = await client.post(f"{BASE}/halls/{hall['id']}/tickets", headers=clerk, json={"category": "A"})
    assert a.json()["id"] == b.json()["id"] and b.headers["idempotent-replayed"] == "true"



async def test_transfer_needs_someone_at_the_counter_and_sign_out_releases_its_tickets(client, tokens):
    await open_today(client, tokens)
    h = (await make_hall(client, tokens))["id"]
    c1, clerk1 = await make_counter(client, tokens, h, "1", [{"category": "A"}])
    c2, clerk2 = await make_counter(client, tokens, h, "2", [{"category": "B"}])
    closed = (await client.post(f"{BASE}/halls/{h}/counters", headers=tokens.admin(),
                                json={"number": "3", "skills": [{"category": "A"}]})).json()
    first, second = await take(client, h, clerk1), await take(client, h, clerk1)
    await call(client, c1["id"], clerk1)
    nobody = await client.post(f"{BASE}/counters/{c1['id']}/transfer", headers=clerk1,
                               json={"counter_id": closed["id"]})
    assert nobody.status_code == 409 and nobody.json()["code"] == "counter_not_open"
    sent = await client.post(f"{BASE}/counters/{c1['id']}/transfer", headers=clerk1, json={"counter_id": c2["id"]})
    assert sent.json()["target_counter_id"] == c2["id"]
    # Counter 2 leaves before calling it: the ticket goes back to line A, ahead of the later one.
    assert (await client.post(f"{BASE}/counters/{c2['id']}/sign-out", headers=clerk2)).status_code == 200
    back = (await client.get(f"{BASE}/tickets/{first['id']}", headers=clerk1)).json()
    assert back["target_counter_id"] is None and back["ahead"] == 0
    assert (await call(client, c1["id"], clerk1))["id"] == first["id"]
    assert (await call(client, c1["id"], clerk1))["id"] == second["id"]


async def test_an_item_weight_beats_its_category_and_a_level_may_name_several_categories(client, tokens):
    hall = await make_hall(client, tokens)
    h = hall["id"]
    async with client.app.state.sessionmaker() as s, s.begin():  # as the catalogue consumer would
        s.add(CatalogItem(item_id=uuid.uuid4(), basic_code="442020000888", name="x", item_type="20", version=1))
    # Two categories at one weight and an item skill: the general form of the calling statement.
    counter, clerk = await make_counter(client, tokens, h, "9", [
        {"category": "A", "weight": "normal"}, {"category": "B", "weight": "normal"},
        {"item_code": "442020000888", "weight": "high"}])
    a = await take(client, h, clerk, "A")
    b_green = await take(client, h, clerk, "B", green_reason="disabled")
    c_plain = await take(client, h, clerk, "C")
    c_item = await take(client, h, clerk, "C", item_code="442020000888")
    first = await call(client, counter["id"], clerk)
    second = await call(client, counter["id"], clerk, previous="no_show")  # the first did not come
    third = await call(client, counter["id"], clerk)
    assert [first["id"], second["id"], third["id"]] == [c_item["id"], b_green["id"], a["id"]]
    assert first["status"] == "called" and first["call_count"] == 1 and first["counter_id"] == counter["id"]
    assert await call(client, counter["id"], clerk) is None  # C itself is not a skill
    tickets = {t["id"]: t for t in (await client.get(f"{BASE}/halls/{h}/tickets", headers=clerk)).json()["items"]}
    assert [tickets[t["id"]]["status"] for t in (c_item, b_green, a, c_plain)] == ["no_show", "done", "done",
                                                                                    "waiting"]
    async with client.app.state.sessionmaker() as s:
        counted = (await s.execute(select(platform.outbox.c.subject).where(
            platform.outbox.c.subject.in_(("queue.ticket.called", "queue.ticket.skipped", "queue.ticket.finished")))
        )).scalars().all()
        actions = (await s.execute(select(platform.audit_event.c.action).where(
            platform.audit_event.c.entity == "ticket", platform.audit_event.c.action != "ticket.issued")
            .order_by(platform.audit_event.c.id))).scalars().all()
    assert sorted(counted) == sorted(["queue.ticket.called"] * 3 + ["queue.ticket.skipped", "queue.ticket.finished",
                                                                    "queue.ticket.finished"])
    assert actions == ["ticket.called", "ticket.skipped", "ticket.called", "ticket.finished", "ticket.called",
                       "ticket.finished"]
    counter_now = (await client.get(f"{BASE}/halls/{h}/counters")).json()["items"][0]
    assert counter_now["current_ticket_id"] is None


async def test_calling_locks_only_the_ticket_it_calls(client, tokens):
    """The weight levels are tried in turn inside one statement: a lower level's ticket is never
    locked when a higher level found one (another counter may call it meanwhile)."""
    from sqlalchemy import text

    from tongban.queue import clock
    from tongban.queue.ticket import repository

    hall = await make_hall(client, tokens)
    h = hall["id"]
    counter, clerk = await make_counter(client, tokens, h, "1", [
        {"category": "A", "weight": "high"}, {"category": "B", "weight": "low"}])
    a = await take(client, h, clerk, "A")
    b = await take(client, h, clerk, "B")
    maker = client.app.state.sessionmaker
    async with maker() as s1, s1.begin():
        await repository.lock_counter(s1, uuid.UUID(counter["id"]))
        clerk_sub = (await s1.execute(text("SELECT clerk_sub FROM queue.counter WHERE id = :id"),
                                      {"id": uuid.UUID(counter["id"])})).scalar()
        shape = (uuid.UUID(h), ("category", "category"), ("A", "B"), (3, 1))
        rows = await repository.call_next(s1, uuid.UUID(counter["id"]), shape, clerk_sub,
                                          dt.date.fromisoformat(a["day"]), "done", clock.now(), 4)
        assert [(r.role, str(r.id)) for r in rows] == [("counter", "None"), ("called", a["id"])]
        async with maker() as s2, s2.begin():  # B is free; A is held by the first transaction
            free = (await s2.execute(text("SELECT id FROM queue.ticket WHERE id = :id FOR UPDATE NOWAIT"),
                                     {"id": uuid.UUID(b["id"])})).scalar()
            held = (await s2.execute(text("SELECT id FROM queue.ticket WHERE id = :id FOR UPDATE SKIP LOCKED"),
                                     {"id": uuid.UUID(a["id"])})).scalar()
        assert str(free) == b["id"] and held is None


async def test_a_number_is_committed_at_once_whether_or_not_the_transaction_has_begun(client, tokens):
    """The number's own statement commits before the request's transaction does (the sequence
    row's lock is never held to that commit), on the request's connection or on a second one."""
    from sqlalchemy import text

    from tongban.queue.ticket import repository

    hall = await make_hall(client, tokens)
    h = uuid.UUID(hall["id"])
    day = dt.date(2026, 1, 5)
    read_last = text("SELECT last FROM queue.ticket_sequence WHERE hall_id = :h AND day = :d AND prefix = 'A'")
    maker = client.app.state.sessionmaker
    async with maker() as s1, s1.begin():
        assert await repository.next_number(s1, h, day, "A") == 1  # before any statement of s1
        async with maker() as s2:
            assert (await s2.execute(read_last, {"h": h, "d": day})).scalar() == 1
        assert (await s1.execute(text("SELECT 1"))).scalar() == 1  # s1's transaction has begun
        assert await repository.next_number(s1, h, day, "A") == 2
        async with maker() as s2:
            assert (await s2.execute(read_last, {"h": h, "d": day})).scalar() == 2
        assert await repository.next_number(s1, h, day, "Z") is None  # no such category
        await s1.rollback()
    async with maker() as s2:
        assert (await s2.execute(read_last, {"h": h, "d": day})).scalar() == 2  # kept: a gap, never a repeat


async def test_a_number_on_a_lost_connection_is_a_503_and_the_connection_leaves_the_pool(client, tokens):
    """The number's raw statement meets a connection the database dropped (a restart): the
    request answers 503 (retry), that connection leaves the pool, and a retry gets a number."""
    from sqlalchemy import text

    hall = await make_hall(client, tokens)
    clerk = tokens.clerk(hall["id"])
    engine = client.app.state.runtime.engine
    async with engine.connect() as killer:
        async with engine.connect() as pooled:  # back to the pool, its backend about to be ended
            await pooled.execute(text("SELECT 1"))
        killed = (await killer.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"))).scalar()
        assert killed >= 1
        answers = []
        while not answers or answers[-1].status_code != 201:
            assert len(answers) <= killed, [a.status_code for a in answers]  # each dead connection fails once
            answers.append(await client.post(f"{BASE}/halls/{hall['id']}/tickets", headers=clerk,
                                             json={"category": "A"}))
    assert len(answers) >= 2  # the first took the dead connection
    assert all(a.status_code == 503 and a.headers["retry-after"] == "1" for a in answers[:-1]), \
        [(a.status_code, a.text) for a in answers]


async def test_call_next_follows_skills_changed_since_this_process_last_called(client, tokens):
    """What the call's statement was built for (the counter's skills as this app last read them,
    on its state) is checked by the statement: skills changed since (here through the API; as
    well by another replica) are read, and the call made for them."""
    hall = await make_hall(client, tokens)
    h = hall["id"]
    shapes = client.app.state.counter_shapes
    counter, clerk = await make_counter(client, tokens, h, "1", [{"category": "A", "weight": "high"}])
    cid = uuid.UUID(counter["id"])
    a = await take(client, h, clerk, "A")
    assert shapes.get(cid) is None
    r = await client.post(f"{BASE}/counters/{counter['id']}/call-next", headers=clerk)
    assert r.status_code == 200 and r.json()["id"] == a["id"]
    assert shapes.get(cid) == (uuid.UUID(h), ("category",), ("A",), (3,))
    r = await client.put(f"{BASE}/counters/{counter['id']}/skills", headers=tokens.admin(),
                         json={"skills": [{"category": "B", "weight": "high"}]})
    assert r.status_code == 200, r.text
    b = await take(client, h, clerk, "B")
    await take(client, h, clerk, "A")  # A is no longer this counter's
    r = await client.post(f"{BASE}/counters/{counter['id']}/call-next", headers=clerk)
    assert r.status_code == 200 and r.json()["id"] == b["id"], r.text
    assert shapes.get(cid)[2] == ("B",)
    # A stale entry of another shape altogether (as if another replica had changed everything)
    shapes.remember(cid, (uuid.uuid4(), ("category",), ("C",), (3,)))
    r = await client.post(f"{BASE}/counters/{counter['id']}/call-next", headers=clerk)
    assert r.status_code == 204, r.text  # B's line is empty; A's is not this counter's
    assert shapes.get(cid) == (uuid.UUID(h), ("category",), ("B",), (3,))


async def test_the_statement_that_reads_the_skills_itself_calls_as_the_shaped_ones_do(client, tokens):
    """A counter this app has not seen yet (or whose known shape was stale) is called by the
    statement that reads the skills itself: the same order as the shaped statements give (the
    test above), items, several categories on one level, exclude and no-show included."""
    from tongban.queue.ticket.service import CounterShapes

    hall = await make_hall(client, tokens)
    h = hall["id"]
    async with client.app.state.sessionmaker() as s, s.begin():  # as the catalogue consumer would
        s.add(CatalogItem(item_id=uuid.uuid4(), basic_code="442020000888", name="x", item_type="20", version=1))
        s.add(CatalogItem(item_id=uuid.uuid4(), basic_code="442020000777", name="y", item_type="20", version=1))
    counter, clerk = await make_counter(client, tokens, h, "9", [
        {"category": "A", "weight": "normal"}, {"category": "B", "weight": "normal"},
        {"item_code": "442020000888", "weight": "high"}, {"category": "C", "weight": "low"},
        {"item_code": "442020000777", "weight": "exclude"}])
    a = await take(client, h, clerk, "A")
    b_green = await take(client, h, clerk, "B", green_reason="disabled")
    c_plain = await take(client, h, clerk, "C")
    c_excluded = await take(client, h, clerk, "C", item_code="442020000777")
    c_item = await take(client, h, clerk, "C", item_code="442020000888")

    async def fresh_call(previous: str = "done") -> dict | None:
        client.app.state.counter_shapes = CounterShapes()  # nothing known: the unshaped statement
        return await call(client, counter["id"], clerk, previous=previous)

    order = [await fresh_call(), await fresh_call("no_show"), await fresh_call(), await fresh_call()]
    assert [t["id"] for t in order] == [c_item["id"], b_green["id"], a["id"], c_plain["id"]]
    assert await fresh_call() is None  # the excluded item waits for another counter
    tickets = {t["id"]: t for t in (await client.get(f"{BASE}/halls/{h}/tickets", headers=clerk)).json()["items"]}
    assert [tickets[t["id"]]["status"] for t in (c_item, b_green, a, c_plain, c_excluded)] == [
        "no_show", "done", "done", "done", "waiting"]


def test_counter_shapes_are_bounded():
    from tongban.queue.ticket.service import CounterShapes

    shapes = CounterShapes()
    shape = (uuid.uuid4(), ("category",), ("A",), (3,))
    for _ in range(CounterShapes.MAX):
        shapes.remember(uuid.uuid4(), shape)
    last = uuid.uuid4()
    shapes.remember(last, shape)  # past the bound: the old entries go, the new one stays
    assert shapes.get(last) == shape and len(shapes._seen) == 1
