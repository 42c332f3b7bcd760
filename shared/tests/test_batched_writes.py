"""Audit and outbox rows (db.BatchedInsert): kept with the transaction's connection and written
with ONE statement for every table before the connection's next statement, a SAVEPOINT or the
COMMIT; nothing for a rollback; an error in the write fails the work."""


import asyncpg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from tongban.shared.audit import AuditTrail
from tongban.shared.db import make_sessionmaker, raw_connection, service_metadata, write_last
from tongban.shared.events.envelope import Envelope
from tongban.shared.events.outbox import Outbox
from tongban.shared.testing.plugin import Statements, platform_schema


@pytest.fixture
async def world(infra):
    async with platform_schema(infra, "bw") as (tables, engine):
        statements = Statements(engine).seen
        yield tables, make_sessionmaker(engine), AuditTrail(tables), Outbox(tables.outbox), statements


def envelope(n: int) -> Envelope:
    return Envelope(type="test.happened", source="shared-tests", data={"n": n})


async def counts(sessionmaker, tables) -> tuple[int, int]:  # noqa: ANN001
    async with sessionmaker() as session:
        audit = (await session.execute(select(func.count()).select_from(tables.audit_event))).scalar_one()
        outbox = (await session.execute(select(func.count()).select_from(tables.outbox))).scalar_one()
    return audit, outbox


async def test_audit_and_outbox_rows_go_in_one_statement_before_commit(world):
    tables, sessionmaker, audit, outbox, statements = world
    async with sessionmaker() as session, session.begin():
        await audit.record(session, "clerk-1", "thing.made", "thing", "t1", detail={"k": "值"})
        await outbox.add(session, envelope(1))
        await audit.record(session, "clerk-1", "thing.changed", "thing", "t1", reason="why")
        await outbox.add(session, envelope(2))
        assert statements == []  # kept, not written yet
    writes = [s for s in statements if "INSERT" in s]
    assert len(writes) == 1 and "audit_event" in writes[0] and "outbox" in writes[0], statements
    async with sessionmaker() as session:
        rows = (await session.execute(select(tables.audit_event).order_by(tables.audit_event.c.id))).all()
        events = (await session.execute(select(tables.outbox.c.envelope))).scalars().all()
    assert [(r.actor, r.actor_role, r.action, r.reason, r.detail) for r in rows] == [
        ("clerk-1", "system", "thing.made", None, {"k": "值"}), ("clerk-1", "system", "thing.changed", "why", None)]
    assert sorted(e["data"]["n"] for e in events) == [1, 2]


async def test_the_same_statement_shape_whatever_the_row_count(world):
    """One row of a table goes as VALUES, more as arrays: one statement shape for any number."""
    tables, sessionmaker, audit, outbox, statements = world
    for n in (2, 5):
        async with sessionmaker() as session, session.begin():
            for i in range(n):
                await audit.record(session, "a", "x", "thing", str(i))
                await outbox.add(session, envelope(i))
    first, second = [s for s in statements if "INSERT" in s]
    assert first == second
    assert "unnest" in first
    assert await counts(sessionmaker, tables) == (7, 7)


async def test_a_read_in_the_same_transaction_sees_them(world):
    tables, sessionmaker, audit, outbox, statements = world
    async with sessionmaker() as session, session.begin():
        await audit.record(session, "a", "x", "thing", "seen")
        await outbox.add(session, envelope(7))
        found = (await session.execute(select(tables.audit_event.c.entity_id))).scalars().all()
        assert found == ["seen"]
        assert (await session.execute(select(func.count()).select_from(tables.outbox))).scalar_one() == 1
        # a raw statement on the connection also writes them first
        conn = await session.connection()
        assert (await conn.exec_driver_sql(f"SELECT count(*) FROM {tables.schema}.audit_event")).scalar() == 1


async def test_detail_none_is_stored_as_before(world):
    """The JSON column gets what SQLAlchemy's own INSERT gave it (None as JSON null)."""
    tables, sessionmaker, audit, outbox, statements = world
    async with sessionmaker() as session, session.begin():
        await audit.record(session, "a", "x", "thing", "new")
    async with sessionmaker() as session, session.begin():
        await session.execute(tables.audit_event.insert(), {
            "actor": "a", "actor_role": "system", "action": "x", "entity": "thing", "entity_id": "old",
            "reason": None, "request_id": None, "detail": None})
    async with sessionmaker() as session:
        got = dict((await session.execute(text(
            f"SELECT entity_id, jsonb_typeof(detail) FROM {tables.schema}.audit_event"))).all())
    assert got["new"] == got["old"]


async def test_nothing_for_a_rollback(world):
    tables, sessionmaker, audit, outbox, statements = world
    with pytest.raises(RuntimeError):
        async with sessionmaker() as session, session.begin():
            await audit.record(session, "a", "x", "thing", "1")
            await outbox.add(session, envelope(1))
            raise RuntimeError("the work failed")
    async with sessionmaker() as session, session.begin():
        await audit.record(session, "a", "x", "thing", "2")
        await session.rollback()
    async with sessionmaker() as session:
        await audit.record(session, "a", "x", "thing", "3")
        await session.close()  # never committed
    assert not [s for s in statements if "INSERT" in s]
    assert await counts(sessionmaker, tables) == (0, 0)


async def test_a_savepoint_rolled_back_takes_only_its_own_rows(world):
    tables, sessionmaker, audit, outbox, statements = world
    async with sessionmaker() as session, session.begin():
        await audit.record(session, "a", "x", "thing", "before")
        with pytest.raises(RuntimeError):
            async with session.begin_nested():
                await audit.record(session, "a", "x", "thing", "inside")
                await outbox.add(session, envelope(1))
                raise RuntimeError("undo the savepoint")
        async with session.begin_nested():
            await audit.record(session, "a", "x", "thing", "released")
        await audit.record(session, "a", "x", "thing", "after")
    async with sessionmaker() as session:
        found = (await session.execute(
            select(tables.audit_event.c.entity_id).order_by(tables.audit_event.c.id))).scalars().all()
    assert found == ["before", "released", "after"]
    assert await counts(sessionmaker, tables) == (3, 0)


async def test_a_batch_notifies_once_and_an_error_in_it_drops_its_rows(world):
    tables, sessionmaker, audit, outbox, statements = world
    async with sessionmaker() as session, session.begin():
        async with outbox.batched(session), audit.batched(session):
            for i in range(5):
                await outbox.add(session, envelope(i))
                await audit.record(session, "a", "x", "thing", str(i))
        await audit.record(session, "a", "x", "thing", "kept")
        with pytest.raises(RuntimeError):
            async with audit.batched(session):
                await audit.record(session, "a", "x", "thing", "dropped")
                raise RuntimeError("the block failed")
    assert len([s for s in statements if "INSERT" in s]) == 1
    assert await counts(sessionmaker, tables) == (6, 5)


async def test_an_error_in_the_write_fails_the_commit(world):
    tables, sessionmaker, audit, outbox, statements = world
    with pytest.raises(DBAPIError):
        async with sessionmaker() as session, session.begin():
            await audit.record(session, "x" * 300, "x", "thing", "too long an actor")  # VARCHAR(200)
            await outbox.add(session, envelope(1))
    assert await counts(sessionmaker, tables) == (0, 0)


async def test_an_error_in_the_write_fails_the_next_statement(world):
    tables, sessionmaker, audit, outbox, statements = world
    with pytest.raises(DBAPIError):
        async with sessionmaker() as session, session.begin():
            await audit.record(session, "x" * 300, "x", "thing", "too long an actor")
            await session.execute(text("SELECT 1"))
    assert await counts(sessionmaker, tables) == (0, 0)


async def test_a_value_too_long_is_refused_in_the_array_form_too(world):
    tables, sessionmaker, audit, outbox, statements = world
    with pytest.raises(DBAPIError):
        async with sessionmaker() as session, session.begin():
            await audit.record(session, "fine", "x", "thing", "1")
            await audit.record(session, "x" * 300, "x", "thing", "2")  # VARCHAR(200): not cut, refused
    assert "unnest" in [s for s in statements if "INSERT" in s][0]
    assert await counts(sessionmaker, tables) == (0, 0)


async def test_the_orm_pending_changes_are_flushed_first_as_before(world):
    """Recording used to go through session.execute, which flushed the ORM's pending objects (a
    service then reads what the flush's RETURNING gave): still so."""
    from sqlalchemy import Column, DateTime, Integer, func as f
    from sqlalchemy.orm import DeclarativeBase

    tables, sessionmaker, audit, outbox, statements = world

    class Base(DeclarativeBase):
        metadata = service_metadata(tables.schema)
        __mapper_args__ = {"eager_defaults": True}

    class Thing(Base):
        __tablename__ = "thing"
        id = Column(Integer, primary_key=True)
        created_at = Column(DateTime(timezone=True), server_default=f.now())

    async with sessionmaker() as session:
        await (await session.connection()).run_sync(Base.metadata.create_all)
        await session.commit()
    async with sessionmaker() as session, session.begin():
        thing = Thing(id=1)
        session.add(thing)
        await audit.record(session, "a", "thing.made", "thing", "1")
        assert thing.created_at is not None
    assert await counts(sessionmaker, tables) == (1, 0)


# --- db.write_last: the request's last statement writes the kept rows with it ---------------------------

async def test_write_last_alone_is_its_own_transaction_with_the_kept_rows(world):
    """No statement before it: one statement writes the kept rows and its own row, committed as it
    ends (the session's commit sends no COMMIT); nothing may follow it in the session."""
    tables, sessionmaker, audit, outbox, statements = world
    table = tables.audit_event.fullname
    async with sessionmaker() as session:
        await audit.record(session, "clerk-1", "thing.made", "thing", "t1", detail={"k": "值"})
        await outbox.add(session, envelope(1))
        rows = await write_last(session, f"WITH x AS (SELECT $1::text AS v) "
                                         f"INSERT INTO {table} (actor, actor_role, action, entity, entity_id) "
                                         f"SELECT v, 'system', 'thing.seen', 'thing', $2 FROM x RETURNING actor",
                                "clerk-2", "t2")
        assert [r["actor"] for r in rows] == ["clerk-2"]
        assert statements == []  # raw: no SQLAlchemy statement, no BEGIN
        _, raw = await raw_connection(session)
        assert not raw.is_in_transaction()
        assert await counts(sessionmaker, tables) == (2, 1)  # committed already, seen by another session
        with pytest.raises(RuntimeError):
            await session.execute(select(1))
        await session.rollback()  # nothing to roll back: it is committed
    assert await counts(sessionmaker, tables) == (2, 1)


async def test_write_last_in_a_begun_transaction_commits_with_it(world):
    tables, sessionmaker, audit, outbox, statements = world
    table = tables.audit_event.fullname
    insert = f"INSERT INTO {table} (actor, actor_role, action, entity, entity_id) VALUES ($1, 'system', 'x', 'y', 'z')"
    async with sessionmaker() as session:
        await session.execute(select(1))  # the transaction begins
        await outbox.add(session, envelope(1))
        await write_last(session, insert, "in-tx")
        await session.execute(select(1))  # still the same transaction: allowed
        await session.rollback()
    assert await counts(sessionmaker, tables) == (0, 0)  # rolled back with it: the kept row too
    async with sessionmaker() as session:
        await session.execute(select(1))
        await outbox.add(session, envelope(2))
        await write_last(session, insert, "in-tx")
        await session.commit()
    assert await counts(sessionmaker, tables) == (1, 1)


async def test_write_last_alone_fails_whole(world):
    """A failing statement writes nothing: not its kept rows either (one statement)."""
    tables, sessionmaker, audit, outbox, statements = world
    async with sessionmaker() as session:
        await audit.record(session, "clerk-1", "thing.made", "thing", "t1")
        await outbox.add(session, envelope(1))
        with pytest.raises(asyncpg.PostgresError):
            await write_last(session, f"INSERT INTO {tables.audit_event.fullname} (actor) VALUES ($1)", "x")
        await session.rollback()
    assert await counts(sessionmaker, tables) == (0, 0)


# --- a failed write at the commit leaves no connection in a failed transaction ----------------------

async def test_a_kept_row_that_fails_at_the_commit_commits_nothing_and_frees_the_connection(world):
    tables, sessionmaker, audit, outbox, statements = world
    with pytest.raises(DBAPIError):
        async with sessionmaker() as session, session.begin():
            await session.execute(select(1))
            await outbox.add(session, envelope(1))
            await audit.record(session, "x" * 300, "x", "thing", "too long an actor")  # VARCHAR(200)
    assert await counts(sessionmaker, tables) == (0, 0)
    for n in range(4):  # every pooled connection is usable again, none left in the failed transaction
        async with sessionmaker() as session, session.begin():
            await session.execute(select(1))
            await audit.record(session, "fine", "x", "thing", str(n))
    assert await counts(sessionmaker, tables) == (4, 0)


# --- the rows still kept at the COMMIT ride its round trip ------------------------------------------

class Sent:
    """The simple queries (BEGIN, COMMIT...) the pool's connections send."""

    def __init__(self, monkeypatch) -> None:  # noqa: ANN001
        self.queries: list[str] = []
        execute = asyncpg.connection.Connection.execute

        async def counted(conn, query, *args, **kw):  # noqa: ANN001, ANN202
            if not args:
                self.queries.append(query)
            return await execute(conn, query, *args, **kw)

        monkeypatch.setattr(asyncpg.connection.Connection, "execute", counted)


ODD = "it's $1, $$, $tb$, \\n a backslash \\, 值 and \u2028"


async def test_kept_rows_ride_the_commit_as_literals_and_read_back_as_sent(world, monkeypatch):
    """A begun transaction's kept rows go in its COMMIT's round trip (no statement of their own),
    every value as the parameterised form stores it: quotes, dollars, backslashes, CJK, JSON (and
    None as JSON null), NULLs; several rows of a table in their order."""
    tables, sessionmaker, audit, outbox, statements = world
    async with sessionmaker() as session:  # the engine's first connection (its dialect set-up) made
        await session.execute(select(1))
    sent = Sent(monkeypatch)
    async with sessionmaker() as session, session.begin():
        await session.execute(select(1))  # the transaction begins on the database
        statements.clear()
        await audit.record(session, ODD, "thing.made", "thing", "r1", reason=ODD,
                           detail={"k": ODD, "n": [1, 2.5, None, True]})
        await audit.record(session, "clerk-1", "thing.changed", "thing", "r2")
        await outbox.add(session, envelope(1))
        await outbox.add(session, Envelope(type="test.happened", source="shared-tests", data={"odd": ODD}))
    assert statements == [], statements  # no statement of their own
    assert len(sent.queries) == 2 and sent.queries[0].startswith("BEGIN"), sent.queries
    assert sent.queries[1].startswith("INSERT INTO") and "; COMMIT" in sent.queries[1], sent.queries
    async with sessionmaker() as session:
        rows = (await session.execute(select(tables.audit_event).order_by(tables.audit_event.c.id))).all()
        events = (await session.execute(select(tables.outbox.c.envelope).order_by(tables.outbox.c.id))).scalars().all()
        null_kind = (await session.execute(text(
            f"SELECT jsonb_typeof(detail) FROM {tables.schema}.audit_event WHERE entity_id = 'r2'"))).scalar()
    assert [(r.actor, r.action, r.entity_id, r.reason, r.detail, r.request_id) for r in rows] == [
        (ODD, "thing.made", "r1", ODD, {"k": ODD, "n": [1, 2.5, None, True]}, None),
        ("clerk-1", "thing.changed", "r2", None, None, None)]
    assert null_kind == "null"  # None as JSON null, as the parameterised form stored it
    assert sorted((e["data"] for e in events), key=str) == sorted([{"n": 1}, {"odd": ODD}], key=str)


async def test_a_value_that_cannot_be_a_literal_goes_the_parameterised_way(world, monkeypatch):
    """The process's dollar-quote tag inside a value: that transaction's rows are written by their
    own statement before the COMMIT, as before."""
    from tongban.shared import db

    tables, sessionmaker, audit, outbox, statements = world
    async with sessionmaker() as session, session.begin():
        await session.execute(select(1))
        statements.clear()
        await audit.record(session, "a", "x", "thing", "tagged", reason=f"a {db._QUOTE_TAG} inside")
    assert len([s for s in statements if "INSERT" in s]) == 1, statements
    async with sessionmaker() as session:
        reason = (await session.execute(select(tables.audit_event.c.reason))).scalar_one()
    assert reason == f"a {db._QUOTE_TAG} inside"


async def test_a_row_too_long_at_the_commit_commits_nothing_as_a_literal_too(world, monkeypatch):
    """VARCHAR(200): the literal is cast to VARCHAR without its length, so the INSERT refuses the
    value (it is not cut); nothing after it runs, the COMMIT included; the connection is rolled back."""
    tables, sessionmaker, audit, outbox, statements = world
    sent = Sent(monkeypatch)
    with pytest.raises(DBAPIError):
        async with sessionmaker() as session, session.begin():
            await session.execute(select(1))
            await outbox.add(session, envelope(1))
            await audit.record(session, "x" * 300, "x", "thing", "too long an actor")
    assert any("INSERT INTO" in q and "COMMIT" in q for q in sent.queries), sent.queries
    assert sent.queries[-1] == "ROLLBACK;", sent.queries
    assert await counts(sessionmaker, tables) == (0, 0)
    async with sessionmaker() as session, session.begin():
        await session.execute(select(1))
        await audit.record(session, "fine", "x", "thing", "after")
    assert await counts(sessionmaker, tables) == (1, 0)
