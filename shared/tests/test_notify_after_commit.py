"""NOTIFY after commit (db.notify_after_commit): sent once the transaction has committed, each
(channel, payload) once, never for a transaction rolled back."""

import asyncpg
import pytest
from sqlalchemy import text

from tongban.shared import db
from tongban.shared.db import make_engine, make_sessionmaker, notify_after_commit
from tongban.shared.testing.plugin import wait_for

CHANNEL = "test_after_commit"


def heard_of(heard: list[str], payload: str):  # noqa: ANN201
    async def check() -> bool:
        return payload in heard
    return check


@pytest.fixture
async def heard(infra):
    got: list[str] = []
    conn = await asyncpg.connect(infra.pg.url_for("postgres"))
    await conn.add_listener(CHANNEL, lambda _c, _pid, _ch, payload: got.append(payload))
    yield got
    await conn.close()


@pytest.fixture
async def sessionmaker(infra):
    engine = make_engine(infra.pg.url_for("postgres"), pool_size=2)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def test_sent_after_commit_once_per_pair(heard, sessionmaker):
    async with sessionmaker() as session, session.begin():
        await notify_after_commit(session, CHANNEL, "a")
        await notify_after_commit(session, CHANNEL, "b")
        await notify_after_commit(session, CHANNEL, "a")  # the same pair again: sent once
        await session.execute(text("SELECT 1"))
        assert heard == []
    async with sessionmaker() as session, session.begin():
        await notify_after_commit(session, CHANNEL, "end")
    await wait_for(heard_of(heard, "end"))
    assert heard == ["a", "b", "end"]


async def test_nothing_for_a_rollback(heard, sessionmaker):
    with pytest.raises(RuntimeError):
        async with sessionmaker() as session, session.begin():
            await notify_after_commit(session, CHANNEL, "rolled back")
            raise RuntimeError("the work failed")
    async with sessionmaker() as session:
        async with session.begin():
            await notify_after_commit(session, CHANNEL, "explicit rollback")
            await session.rollback()
    async with sessionmaker() as session, session.begin():
        # PostgreSQL delivers in commit order: anything sent for the two above came first.
        await notify_after_commit(session, CHANNEL, "marker")
    await wait_for(heard_of(heard, "marker"))
    assert heard == ["marker"]


async def test_savepoint_release_waits_for_the_commit(heard, sessionmaker):
    async with sessionmaker() as session:
        async with session.begin():
            async with session.begin_nested():
                await notify_after_commit(session, CHANNEL, "inner")
            await notify_after_commit(session, CHANNEL, "outer")
        await wait_for(heard_of(heard, "outer"))
    assert heard == ["inner", "outer"]  # once each, after the transaction's commit


class Sent:
    """What the pool's connections send as simple queries (BEGIN, COMMIT...) and as statements."""

    def __init__(self, monkeypatch) -> None:  # noqa: ANN001
        self.queries: list[str] = []
        execute = asyncpg.connection.Connection.execute

        async def counted(conn, query, *args, **kw):  # noqa: ANN001, ANN202
            self.queries.append(query)
            return await execute(conn, query, *args, **kw)

        monkeypatch.setattr(asyncpg.connection.Connection, "execute", counted)


async def test_the_notifies_ride_the_commit(heard, sessionmaker, monkeypatch):
    """One round trip for the COMMIT and its NOTIFYs; PostgreSQL runs them only after the COMMIT
    succeeded, outside the transaction."""
    async with sessionmaker() as session:
        await session.execute(text("SELECT 1"))  # the engine's first connection (its dialect set-up) made
    sent = Sent(monkeypatch)
    async with sessionmaker() as session, session.begin():
        await session.execute(text("SELECT 1"))
        await notify_after_commit(session, CHANNEL, "with 'quotes', $1, $$ and 值")
        await notify_after_commit(session, CHANNEL, "two")
    await wait_for(heard_of(heard, "two"))
    assert heard == ["with 'quotes', $1, $$ and 值", "two"]
    assert sent.queries[0].startswith("BEGIN")
    assert len(sent.queries) == 2 and sent.queries[1].startswith("COMMIT; SELECT pg_notify"), sent.queries


async def test_a_payload_that_cannot_ride_is_sent_after_the_commit(heard, sessionmaker, monkeypatch):
    async with sessionmaker() as session:
        await session.execute(text("SELECT 1"))
    sent = Sent(monkeypatch)
    tagged = f"x{db._QUOTE_TAG}y"
    async with sessionmaker() as session, session.begin():
        await session.execute(text("SELECT 1"))
        await notify_after_commit(session, CHANNEL, tagged)
    await wait_for(heard_of(heard, tagged))
    assert sent.queries[1] == "COMMIT;" and sent.queries[2] == db._NOTIFY_SQL, sent.queries


async def test_a_rolled_back_notify_never_rides_a_later_commit(heard, sessionmaker):
    """Pending NOTIFYs of a transaction rolled back (none of its statements ran: no ROLLBACK sent)
    are not carried by the next transaction on the same pooled connection."""
    async with sessionmaker() as session:
        await notify_after_commit(session, CHANNEL, "never")
        await session.rollback()
    for _ in range(2):  # pool_size=2: both connections
        async with sessionmaker() as session, session.begin():
            await session.execute(text("SELECT 1"))
    async with sessionmaker() as session, session.begin():
        await session.execute(text("SELECT 1"))
        await notify_after_commit(session, CHANNEL, "marker")
    await wait_for(heard_of(heard, "marker"))
    assert heard == ["marker"]
