"""NOTIFY after commit (db.notify_after_commit): sent once the transaction has committed, each
(channel, payload) once, never for a transaction rolled back."""

import asyncpg
import pytest
from sqlalchemy import text

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
