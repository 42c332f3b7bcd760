"""`Idempotency.remember`: the stored answer is an UPDATE kept with the transaction (db.keep_update),
written with its kept rows (audit, outbox) before the next statement, or in the COMMIT's round
trip: no round trip of its own. The stored answer and its replay are what the UPDATE of its own
stored; an error in it fails the work (nothing committed); a rollback drops it."""

import json

import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request

from tongban.shared import db
from tongban.shared.audit import AuditTrail
from tongban.shared.db import make_sessionmaker, write_last
from tongban.shared.idempotency import Idempotency
from tongban.shared.testing.plugin import RoundTrips, Statements, platform_schema

ODD = "it's $1, $$, $tb$, \\n a backslash \\, 值 and \u2028"
ANSWER = {"id": "c-1", "title": ODD, "n": [1, 2.5, None, True], "nested": {"办事": "是", "empty": {}}}


@pytest.fixture
async def world(infra):
    async with platform_schema(infra, "idr") as (tables, engine):
        statements = Statements(engine).seen
        app = FastAPI()
        app.state.platform_tables = tables
        sessionmaker = make_sessionmaker(engine)
        async with sessionmaker() as session:  # the engine's first connection (its dialect set-up) made
            await session.execute(select(1))
        statements.clear()
        yield tables, sessionmaker, AuditTrail(tables), statements, app


def idem(app: FastAPI, key: str, fingerprint: str = "f" * 64) -> Idempotency:
    request = Request({"type": "http", "app": app, "method": "POST", "path": "/things", "headers": []})
    return Idempotency(request, key, fingerprint)


async def stored(sessionmaker, tables, key: str):  # noqa: ANN001, ANN201
    async with sessionmaker() as session:
        return (await session.execute(text(
            f"SELECT status_code, response::text AS body FROM {tables.schema}.idempotency_key "
            "WHERE principal = 'citizen-1' AND key = :k"), {"k": key})).first()


async def audit_rows(sessionmaker, tables) -> list[str]:  # noqa: ANN001
    async with sessionmaker() as session:
        return list((await session.execute(select(tables.audit_event.c.entity_id)
                                           .order_by(tables.audit_event.c.id))).scalars())


async def test_a_create_is_three_round_trips_and_remember_costs_none(world, monkeypatch):
    """claim (BEGIN, INSERT), the work's kept rows, remember, COMMIT: the audit row and the stored
    answer go in the COMMIT's round trip, as literals (before: the kept rows' statement, the
    remember UPDATE and the COMMIT, three round trips of their own)."""
    tables, sessionmaker, audit, statements, app = world
    trips = RoundTrips(monkeypatch)
    key = idem(app, "k-trips")
    async with sessionmaker() as session, session.begin():
        assert await key.claim(session, "citizen-1") is None
        await audit.record(session, "citizen-1", "thing.made", "thing", "t1")
        answer = await key.remember(session, 201, ANSWER)
    assert len(statements) == 1 and statements[0].startswith("INSERT INTO"), statements  # the claim only
    assert len(trips.seen) == 3, trips.seen  # BEGIN, the claim, the COMMIT with the rows and the answer
    assert trips.seen[0].startswith("BEGIN")
    last = trips.seen[-1]
    assert last.startswith("INSERT INTO") and "; UPDATE " in last and "; COMMIT" in last, last
    assert last.index("UPDATE") < last.index("COMMIT")
    row = await stored(sessionmaker, tables, "k-trips")
    assert row.status_code == 201 and json.loads(row.body) == ANSWER
    assert await audit_rows(sessionmaker, tables) == ["t1"]
    async with sessionmaker() as session, session.begin():
        replay = await idem(app, "k-trips").claim(session, "citizen-1")
    assert replay is not None and replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert json.loads(replay.body) == json.loads(answer.body)  # the same answer (jsonb orders its keys, as before)


async def test_the_stored_answer_is_what_the_update_of_its_own_stored(world):
    """The same answer stored the old way (an UPDATE with the value bound) and the new ways (a
    literal in the COMMIT's round trip; the kept rows' statement, bound): the same stored text."""
    tables, sessionmaker, audit, statements, app = world
    t = tables.idempotency_key
    async with sessionmaker() as session, session.begin():
        for k in ("old", "literal", "bound"):
            assert await idem(app, k).claim(session, "citizen-1") is None
        data = json.loads(json.dumps(ANSWER))
        await session.execute(t.update().where(t.c.principal == "citizen-1", t.c.key == "old")
                              .values(status_code=201, response=data))
    async with sessionmaker() as session, session.begin():
        await session.execute(select(1))
        key = idem(app, "literal")
        key._owner = "citizen-1"
        await key.remember(session, 201, ANSWER)
    async with sessionmaker() as session, session.begin():
        key = idem(app, "bound")
        key._owner = "citizen-1"
        await session.execute(select(1))
        await key.remember(session, 201, ANSWER)
        await session.execute(select(1))  # the next statement: written by the kept rows' statement, bound
    assert any(s.startswith("UPDATE") for s in statements), statements
    old, literal, bound = [await stored(sessionmaker, tables, k) for k in ("old", "literal", "bound")]
    assert old.body == literal.body == bound.body and old.status_code == literal.status_code == bound.status_code == 201


async def test_a_statement_after_remember_sees_it_and_carries_it(world):
    """A statement after remember: the kept rows and the UPDATE go first, in ONE statement (the
    rows as CTEs, the UPDATE last), so the statement sees the stored answer."""
    tables, sessionmaker, audit, statements, app = world
    async with sessionmaker() as session, session.begin():
        key = idem(app, "k-after")
        await key.claim(session, "citizen-1")
        await audit.record(session, "citizen-1", "thing.made", "thing", "t2")
        await key.remember(session, 201, ANSWER)
        statements.clear()
        seen = (await session.execute(text(
            f"SELECT status_code FROM {tables.schema}.idempotency_key WHERE key = 'k-after'"))).scalar_one()
    assert seen == 201
    assert len(statements) == 2 and statements[0].startswith("WITH kept0 AS (INSERT INTO") \
        and ") UPDATE " in statements[0], statements
    assert await audit_rows(sessionmaker, tables) == ["t2"]


async def test_remembered_twice_the_last_answer_is_stored(world):
    tables, sessionmaker, audit, statements, app = world
    async with sessionmaker() as session, session.begin():
        key = idem(app, "k-twice")
        await key.claim(session, "citizen-1")
        await key.remember(session, 409, {"code": "in_progress"})
        await key.remember(session, 201, ANSWER)
    row = await stored(sessionmaker, tables, "k-twice")
    assert row.status_code == 201 and json.loads(row.body) == ANSWER


async def test_an_error_in_it_at_the_commit_commits_nothing(world):
    """A status PostgreSQL refuses (out of INTEGER's range): the UPDATE fails in the COMMIT's round
    trip, the COMMIT never runs, the claim and the work's rows are rolled back, the connection is
    usable again."""
    tables, sessionmaker, audit, statements, app = world
    with pytest.raises(DBAPIError):
        async with sessionmaker() as session, session.begin():
            key = idem(app, "k-bad")
            await key.claim(session, "citizen-1")
            await audit.record(session, "citizen-1", "thing.made", "thing", "bad")
            await key.remember(session, 2**40, ANSWER)
    assert await stored(sessionmaker, tables, "k-bad") is None
    assert await audit_rows(sessionmaker, tables) == []
    async with sessionmaker() as session, session.begin():
        key = idem(app, "k-bad")
        assert await key.claim(session, "citizen-1") is None  # free again
        await key.remember(session, 201, ANSWER)
    assert (await stored(sessionmaker, tables, "k-bad")).status_code == 201


async def test_an_error_in_it_before_the_next_statement_fails_that_statement(world):
    tables, sessionmaker, audit, statements, app = world
    with pytest.raises(DBAPIError):
        async with sessionmaker() as session, session.begin():
            key = idem(app, "k-bad2")
            await key.claim(session, "citizen-1")
            await key.remember(session, 2**40, ANSWER)
            await session.execute(select(1))
    assert await stored(sessionmaker, tables, "k-bad2") is None


async def test_a_rollback_drops_it(world):
    tables, sessionmaker, audit, statements, app = world
    async with sessionmaker() as session:
        async with session.begin():
            key = idem(app, "k-kept")
            await key.claim(session, "citizen-1")
        async with session.begin():
            key = idem(app, "k-kept")
            key._owner = "citizen-1"
            await session.execute(select(1))
            await key.remember(session, 201, ANSWER)
            await session.rollback()
        async with session.begin():  # the same connection: nothing left kept for it
            await session.execute(select(1))
    row = await stored(sessionmaker, tables, "k-kept")
    assert row.status_code is None and row.body is None


async def test_a_savepoint_rolled_back_drops_it(world):
    tables, sessionmaker, audit, statements, app = world
    async with sessionmaker() as session, session.begin():
        key = idem(app, "k-sp")
        await key.claim(session, "citizen-1")
        nested = await session.begin_nested()
        await key.remember(session, 201, ANSWER)
        await nested.rollback()
        await audit.record(session, "citizen-1", "thing.kept", "thing", "sp")
    row = await stored(sessionmaker, tables, "k-sp")
    assert row.status_code is None
    assert await audit_rows(sessionmaker, tables) == ["sp"]


async def test_a_key_that_cannot_be_a_literal_goes_the_parameterised_way(world):
    """The process's dollar-quote tag inside the key: the kept rows and the answer are written by
    their own statement before the COMMIT, as before."""
    tables, sessionmaker, audit, statements, app = world
    odd_key = f"k {db._QUOTE_TAG} inside"
    async with sessionmaker() as session, session.begin():
        key = idem(app, odd_key)
        await key.claim(session, "citizen-1")
        await audit.record(session, "citizen-1", "thing.made", "thing", "t3")
        await key.remember(session, 201, ANSWER)
    assert any(s.startswith("WITH kept0 AS (INSERT") and ") UPDATE " in s for s in statements), statements
    row = await stored(sessionmaker, tables, odd_key)
    assert row.status_code == 201 and json.loads(row.body) == ANSWER


async def test_remember_before_write_last_goes_in_its_statement(world):
    """In a begun transaction (a claim ran), write_last carries the kept UPDATE as one of its CTEs;
    remembered after write_last it rides the COMMIT."""
    tables, sessionmaker, audit, statements, app = world
    for order in ("before", "after"):
        async with sessionmaker() as session, session.begin():
            key = idem(app, f"k-wl-{order}")
            await key.claim(session, "citizen-1")
            await audit.record(session, "citizen-1", "thing.made", "thing", order)
            if order == "before":
                await key.remember(session, 201, ANSWER)
            rows = await write_last(session, f"INSERT INTO {tables.schema}.audit_event "
                                    "(actor, actor_role, action, entity, entity_id) "
                                    "VALUES ($1, 'citizen', 'x', 'thing', $2) RETURNING entity_id", "citizen-1",
                                    f"{order}-last")
            assert [r["entity_id"] for r in rows] == [f"{order}-last"]
            if order == "after":
                await key.remember(session, 201, ANSWER)
        row = await stored(sessionmaker, tables, f"k-wl-{order}")
        assert row.status_code == 201 and json.loads(row.body) == ANSWER
    assert sorted(await audit_rows(sessionmaker, tables)) == ["after", "after-last", "before", "before-last"]


async def test_write_kept_writes_them_now_and_fails_there(world):
    """db.write_kept: the kept rows and the answer in one statement at the call (a caller catching a
    unique index's refusal around it: the forwarding routes); an error raised there."""
    from tongban.shared.db import write_kept

    tables, sessionmaker, audit, statements, app = world
    async with sessionmaker() as session, session.begin():
        key = idem(app, "k-now")
        await key.claim(session, "citizen-1")
        await audit.record(session, "citizen-1", "thing.made", "thing", "now")
        await key.remember(session, 201, ANSWER)
        statements.clear()
        await write_kept(session)
        assert len(statements) == 1 and statements[0].startswith("WITH kept0 AS (INSERT") and ") UPDATE " in statements[0]
        await write_kept(session)  # nothing kept: nothing sent
        assert len(statements) == 1
    assert (await stored(sessionmaker, tables, "k-now")).status_code == 201
    async with sessionmaker() as session, session.begin():
        key = idem(app, "k-now-bad")
        await key.claim(session, "citizen-1")
        await key.remember(session, 2**40, ANSWER)
        with pytest.raises(DBAPIError):
            await write_kept(session)
        await session.rollback()
    assert await stored(sessionmaker, tables, "k-now-bad") is None
