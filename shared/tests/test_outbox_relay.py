"""The outbox relay leases due rows in a statement committed alone, publishes them in order with no
transaction open and waits for their acknowledgements together, then marks them sent; a row whose
publish failed is put back with its backoff while the others stay sent, a lease left by a relay
that died runs out and its rows are published again, and JetStream keeps each event once."""

import asyncio
import contextlib
import datetime as dt

import pytest
from sqlalchemy import select, update

from tongban.shared.db import make_sessionmaker
from tongban.shared.events import bus
from tongban.shared.events.envelope import Envelope
from tongban.shared.events.outbox import Claimed, Outbox, OutboxRelay, _local_relays
from tongban.shared.testing.plugin import RoundTrips, platform_schema, wait_for

NOTIFY_KEY = "tongban_notify_after_commit"   # tongban.shared.db's pending NOTIFYs of a session

SOURCE = "relaying"


@pytest.fixture
async def world(infra, clean_nats):
    async with platform_schema(infra, "rl") as (tables, engine):
        nc = await bus.connect(infra.nats.url, "relay-test")
        js = nc.jetstream()
        await bus.ensure_stream(js, SOURCE)
        yield tables, make_sessionmaker(engine), js
        await nc.close()


async def test_sent_rows_stay_marked_and_a_failed_one_waits_with_its_backoff(world):
    tables, sessionmaker, js = world
    outbox = Outbox(tables.outbox)
    # In order: a good event, one no stream carries (its publish fails), another good one.
    events = [Envelope(type=f"{SOURCE}.thing.happened", source="t", data={"n": 1}),
              Envelope(type="nowhere.thing.happened", source="t", data={"n": 2}),
              Envelope(type=f"{SOURCE}.thing.happened", source="t", data={"n": 3})]
    for e in events:
        async with sessionmaker() as session, session.begin():
            await outbox.add(session, e)
    relay = OutboxRelay(outbox, sessionmaker, lambda: js, listen_dsn="")

    async def rows() -> dict:
        t = tables.outbox
        async with sessionmaker() as s:
            found = (await s.execute(select(t.c.id, t.c.published_at, t.c.attempts, t.c.last_error,
                                            t.c.next_attempt_at > t.c.created_at))).all()
        return {r.id: r for r in found}

    sent, more, next_due = await relay.publish_due()
    assert (sent, more) == (2, False) and next_due is not None
    got = await rows()
    first, bad, last = (got[e.id] for e in events)
    assert first.published_at is not None and last.published_at is not None
    assert bad.published_at is None and bad.attempts == 1 and bad.last_error and bad[4]   # backed off

    # The failed one is not due yet: the next pass finds nothing and says when it is due.
    sent, more, next_due = await relay.publish_due()
    assert (sent, more) == (0, False) and next_due is not None and next_due > 0
    info = await js.stream_info(bus.stream_name(SOURCE))
    assert info.state.messages == 2
    psub = await js.pull_subscribe(f"{SOURCE}.>", durable="relay-check", stream=bus.stream_name(SOURCE))
    published = [Envelope.model_validate_json(m.data).data["n"] for m in await psub.fetch(2, timeout=5)]
    assert published == [1, 3]


async def test_a_pass_is_two_round_trips_each_its_own_durable_transaction(world, monkeypatch):
    """The claim and the marking are each one statement sent alone (no BEGIN, no COMMIT): what they
    wrote is committed when they return, seen by another connection, and the pass costs two round
    trips, not six; a pass that finds nothing asks when the next row is due in one more."""
    tables, sessionmaker, js = world
    outbox = Outbox(tables.outbox)
    events = [Envelope(type=f"{SOURCE}.thing.happened", source="t", data={"n": n}) for n in (1, 2, 3)]
    async with sessionmaker() as session, session.begin():
        for e in events:
            await outbox.add(session, e)
    relay = OutboxRelay(outbox, sessionmaker, lambda: js, listen_dsn="")
    trips = RoundTrips(monkeypatch)
    assert await relay.publish_due() == (3, False, None)
    seen = trips.take()
    assert len(seen) == 2 and seen[0].startswith(f'UPDATE "{tables.outbox.schema}"."outbox" SET next_attempt_at')
    assert seen[1].startswith(f'UPDATE "{tables.outbox.schema}"."outbox" SET published_at = now()')
    assert not any(s.startswith(("BEGIN", "COMMIT")) for s in seen)
    t = tables.outbox
    async with sessionmaker() as s:
        marked = (await s.execute(select(t.c.id).where(t.c.published_at.is_not(None)))).scalars().all()
    assert set(marked) == {e.id for e in events}
    info = await js.stream_info(bus.stream_name(SOURCE))
    assert info.state.messages == 3

    trips.take()
    assert await relay.publish_due() == (0, False, None)   # nothing due, nothing unpublished
    assert len(trips.take()) == 2                           # the claim and the next-due question


async def test_a_running_relay_marks_a_pass_with_its_next_claim_or_alone_when_none_comes(world, monkeypatch):
    """The running relay leaves a pass's rows leased and unmarked; the next pass's claim marks them
    in its own statement (one round trip for both), and with no next pass they are marked alone
    within MARK_DEFER; stopping marks what is left. No row is published twice meanwhile."""
    tables, sessionmaker, js = world
    outbox = Outbox(tables.outbox)
    t = tables.outbox
    relay = OutboxRelay(outbox, sessionmaker, lambda: js, listen_dsn="")

    async def add(n: int) -> list:
        events = [Envelope(type=f"{SOURCE}.thing.happened", source="t", data={"n": k}) for k in range(n)]
        async with sessionmaker() as session, session.begin():
            for e in events:
                await outbox.add(session, e)
        return [e.id for e in events]

    async def marked() -> set:
        async with sessionmaker() as s:
            return set((await s.execute(select(t.c.id).where(t.c.published_at.is_not(None)))).scalars())

    first = await add(2)
    trips = RoundTrips(monkeypatch)
    assert await relay.publish_due(defer_marks=True) == (2, False, None)
    assert len(trips.take()) == 1 and await marked() == set()   # the claim only: leased, not marked
    assert await relay.publish_due(defer_marks=True) == (0, False, None)   # leased: not sent again
    assert await marked() == set(first)                          # that pass's claim marked them
    second = await add(3)
    trips.take()
    assert await relay.publish_due(defer_marks=True) == (3, False, None)
    assert len(trips.take()) == 1 and await marked() == set(first)
    third = await add(1)
    assert await relay.publish_due(defer_marks=True) == (1, False, None)
    assert await marked() == set(first) | set(second)            # marked by the claim that sent `third`
    info = await js.stream_info(bus.stream_name(SOURCE))
    assert info.state.messages == 6

    # Running: no pass comes after the last one, so its rows are marked alone; stopping marks the rest.
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        fourth = await add(2)
        relay.wake()

        async def all_marked() -> bool:
            return await marked() == {*first, *second, *third, *fourth}
        await wait_for(all_marked, timeout=5)
        assert relay._unmarked == []
        last = await add(1)
        relay.wake()

        async def sent() -> bool:
            return (await js.stream_info(bus.stream_name(SOURCE))).state.messages == 9
        await wait_for(sent, timeout=5)
    finally:
        stop.set()
        await task
    assert await marked() == {*first, *second, *third, *fourth, *last}
    assert (await js.stream_info(bus.stream_name(SOURCE))).state.messages == 9


async def test_a_commit_wakes_the_relay_of_its_own_process_without_a_notify(world, infra):
    """A relay running in this process on the same engine is woken by the commit itself: no NOTIFY
    is sent, the event is published at once; a rolled-back transaction wakes nothing."""
    tables, sessionmaker, js = world
    outbox = Outbox(tables.outbox)
    dsn = sessionmaker.kw["bind"].url.set(drivername="postgresql").render_as_string(hide_password=False)
    relay = OutboxRelay(outbox, sessionmaker, lambda: js, dsn)
    woken: list[int] = []
    wake = relay.wake
    relay.wake = lambda: (woken.append(1), wake())  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await wait_for(lambda: _registered(outbox_key(sessionmaker, outbox)))
        with contextlib.suppress(RuntimeError):
            async with sessionmaker() as session, session.begin():
                await outbox.add(session, Envelope(type=f"{SOURCE}.thing.dropped", source="t", data={"n": 0}))
                raise RuntimeError("rolled back")
        assert woken == []
        async with sessionmaker() as session, session.begin():
            await outbox.add(session, Envelope(type=f"{SOURCE}.thing.happened", source="t", data={"n": 1}))
            assert NOTIFY_KEY not in session.info   # no NOTIFY asked for: the commit wakes the relay
        assert woken == [1]

        async def published() -> bool:
            return (await js.stream_info(bus.stream_name(SOURCE))).state.messages == 1
        await wait_for(published)
    finally:
        stop.set()
        await task
    # Stopped, the relay is no longer this process's: a commit asks for a NOTIFY again.
    async with sessionmaker() as session, session.begin():
        await outbox.add(session, Envelope(type=f"{SOURCE}.thing.happened", source="t", data={"n": 2}))
        assert NOTIFY_KEY in session.info


async def test_no_transaction_is_open_while_jetstream_answers(world):
    """While a pass publishes, its claimed rows are neither locked nor due: another session can lock
    them at once (no transaction of the relay holds them), and another relay finds nothing to send."""
    tables, sessionmaker, js = world
    outbox = Outbox(tables.outbox)
    event = Envelope(type=f"{SOURCE}.thing.happened", source="t", data={"n": 1})
    async with sessionmaker() as session, session.begin():
        await outbox.add(session, event)
    relay = OutboxRelay(outbox, sessionmaker, lambda: js, listen_dsn="")
    other = OutboxRelay(outbox, sessionmaker, lambda: js, listen_dsn="")
    seen: list[tuple] = []
    publish = relay._publish

    async def watched(rows: list) -> dict:
        t = tables.outbox
        async with sessionmaker() as s, s.begin():
            locked = (await s.execute(select(t.c.id, t.c.published_at).where(t.c.id == event.id)
                                      .with_for_update(nowait=True))).one()
        seen.append((locked, await other.publish_due()))
        return await publish(rows)

    relay._publish = watched  # type: ignore[method-assign]
    assert (await relay.publish_due())[0] == 1
    (locked, other_pass), = seen
    assert locked.published_at is None          # leased, not marked: a crash now leaves it to send
    assert other_pass[0] == 0                   # the lease keeps it from the other relay
    async with sessionmaker() as s:
        assert (await s.execute(select(tables.outbox.c.published_at)
                                .where(tables.outbox.c.id == event.id))).scalar() is not None


async def test_a_lease_left_by_a_relay_that_died_runs_out_and_its_rows_go_again(world):
    """A relay that leased rows and died before marking them (its process killed after step 1 or 2):
    the rows wait for the lease, then the next pass publishes them; JetStream keeps one copy of an
    event the dead relay had already sent (its Nats-Msg-Id)."""
    tables, sessionmaker, js = world
    outbox = Outbox(tables.outbox)
    events = [Envelope(type=f"{SOURCE}.thing.happened", source="t", data={"n": n}) for n in (1, 2)]
    async with sessionmaker() as session, session.begin():
        for e in events:
            await outbox.add(session, e)
    dead = OutboxRelay(outbox, sessionmaker, lambda: js, listen_dsn="")
    claimed = [Claimed(*r) for r in await dead._alone(dead._claim_sql, 10, dead.lease_seconds)]   # its step 1 ...
    assert {r.id for r in claimed} == {e.id for e in events}
    assert not await dead._publish([r for r in claimed if r.id == events[0].id])   # ... and one publish

    relay = OutboxRelay(outbox, sessionmaker, lambda: js, listen_dsn="")
    sent, more, next_due = await relay.publish_due()
    assert (sent, more) == (0, False) and next_due is not None and next_due > 1   # leased
    t = tables.outbox
    async with sessionmaker() as session, session.begin():   # the lease runs out
        await session.execute(update(t).values(next_attempt_at=t.c.next_attempt_at
                                               - dt.timedelta(seconds=dead.lease_seconds)))
    assert (await relay.publish_due())[:2] == (2, False)
    async with sessionmaker() as s:
        assert (await s.execute(select(t.c.id).where(t.c.published_at.is_(None)))).all() == []
    info = await js.stream_info(bus.stream_name(SOURCE))
    assert info.state.messages == 2   # the first event's second publish was a duplicate


def outbox_key(sessionmaker, outbox):  # noqa: ANN001, ANN201
    return (sessionmaker.kw["bind"].sync_engine, outbox.channel)


async def _registered(key) -> bool:  # noqa: ANN001
    return key in _local_relays
