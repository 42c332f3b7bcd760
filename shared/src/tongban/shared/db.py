"""Async engine, one transaction per request or message, and the metadata convention."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import re
import uuid
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import JSON, Connection, Engine, MetaData, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.util import await_only

log = logging.getLogger("tongban.db")
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Every service's declarative base takes these (`__mapper_args__ = MAPPER_ARGS`): what the database
# computes on a flush (an `updated_at` with `onupdate=func.now()`) comes back with RETURNING, so
# building the answer after an update reads no expired attribute (a lazy load is MissingGreenlet
# under asyncio).
MAPPER_ARGS = {"eager_defaults": True}


def service_metadata(schema: str) -> MetaData:
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def async_url(url: str) -> str:
    """Accept plain postgresql:// URLs (as ops teams write them) and use asyncpg."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    return url


def make_engine(url: str, pool_size: int = 10, pool_timeout: float = 5.0) -> AsyncEngine:
    """A pooled engine. A request that waits `pool_timeout` seconds for a connection gets a 503
    with Retry-After (errors.database_unavailable) rather than hanging on SQLAlchemy's 30 s default.

    No pre-ping: it cost a round trip on every checkout (14% of svc-credentials' CPU in the
    instant-approval chain, profiled). After a database restart the first statement on a stale
    connection fails instead: SQLAlchemy then invalidates every older pooled connection, the
    request answers 503 + Retry-After, a consumer's message is redelivered, the relay retries."""
    return create_async_engine(async_url(url), pool_size=pool_size, max_overflow=pool_size,
                               pool_timeout=pool_timeout, pool_recycle=1800,
                               connect_args={"connection_class": PlatformConnection})


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's one transaction; it commits before the response is sent (scope=function),
    and rolls back when the request fails.

    The session begins on its first statement (SQLAlchemy's autobegin) and is committed, then
    closed, here: the same transaction as `async with sessionmaker() as s, s.begin()`, without
    that form's extra greenlet switch to begin and the task it creates to close (profiled in
    bench/stack.py, on every request of every service). FastAPI shields this exit from
    cancellation; the close runs whatever happens, giving the connection back to the pool."""
    session = request.app.state.sessionmaker()
    try:
        yield session
        await session.commit()
    finally:
        await session.close()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def listen(dsn: str, channel: str, on_notify: Callable[[str], None], stop: asyncio.Event,
                 on_connected: Callable[[bool], None] | None = None, retry_seconds: float = 1.0) -> None:
    """Keep a LISTEN connection on `channel` open until `stop`, reconnecting after a failure.

    `on_notify(payload)` runs for each NOTIFY (delivered only for committed transactions).
    `on_connected(True)` runs once listening, `on_connected(False)` when the connection is lost:
    a caller that may have missed notifications meanwhile catches up on True.
    """
    while not stop.is_set():
        conn = None
        try:
            conn = await asyncpg.connect(dsn)
            await conn.add_listener(channel, lambda _c, _pid, _ch, payload: on_notify(payload))
            if on_connected is not None:
                on_connected(True)
            while not stop.is_set() and not conn.is_closed():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("LISTEN %s: connection failed: %s", channel, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=retry_seconds)
        finally:
            if on_connected is not None:
                on_connected(False)
            if conn is not None and not conn.is_closed():
                await conn.close()


# --- NOTIFY after commit ----------------------------------------------------------------------------
#
# A transaction that has sent NOTIFY takes PostgreSQL's one database-wide notify lock at commit and
# holds it until its commit record is flushed to disk, so with durable commits every notifying
# transaction commits alone, one flush after another, and group commit is lost: 50 clients doing
# insert+NOTIFY transactions made 450-720 commits/s where insert+SELECT made 1,570-1,780 and
# insert, commit, then NOTIFY outside the transaction 1,600-2,400 (bench/queue_calls.py's machine,
# durable). So the platform's NOTIFYs (the outbox relay's wake-up, svc-queue's live boards) are
# kept with the session and sent right after its commit, on the same connection, outside any
# transaction (one round trip, no flush): never for work that was rolled back, as before. A crash
# between the commit and the NOTIFY loses only the wake-up: the relay polls anyway (IDLE_POLL),
# and a board catches up with the next update or its next snapshot.
#
# They go with the COMMIT itself, in its round trip: asyncpg sends COMMIT as a simple query, and a simple
# query may hold several statements, run in order and stopped at the first error. So the pending
# NOTIFYs ride behind it ("COMMIT; SELECT pg_notify(...)"): PostgreSQL runs them only once the
# COMMIT has succeeded, outside the committed transaction, as before, one round trip fewer for
# every write that notifies. The channel and the payload go in as dollar-quoted literals, under a
# tag drawn at random once per process and checked to be absent from both (no escaping at all is
# done inside dollar quotes); a payload that could not go (the tag in it, a NUL, over
# PostgreSQL's 8000 bytes) goes the old way, in its own round trip after the commit. (Only a full
# notification queue, which PostgreSQL refuses with an error, would now fail the request after
# its commit, where it was logged and dropped: the queue is 8 GB.)

_NOTIFY_KEY = "tongban_notify_after_commit"
_NOTIFY_SQL = "SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p)"
_QUOTE_TAG = f"$tb{os.urandom(6).hex()}$"
_NOTIFY_MAX_BYTES = 7999
_pending_notifies: weakref.WeakKeyDictionary[Connection, dict[tuple[str, str], None]] = weakref.WeakKeyDictionary()


def _literal(value: str) -> str | None:
    if _QUOTE_TAG in value or "\x00" in value:
        return None
    return f"{_QUOTE_TAG}{value}{_QUOTE_TAG}"


def _commit_and_notify(pairs: dict[tuple[str, str], None]) -> str | None:
    """`COMMIT;` followed by the NOTIFYs of `pairs`, as one simple query; None when one cannot go
    as a literal (then they are sent after the commit, apart)."""
    rows = []
    for channel, payload in pairs:
        c, p = _literal(channel), _literal(payload)
        if c is None or p is None or len(payload.encode()) > _NOTIFY_MAX_BYTES or not channel:
            return None
        rows.append(f"({c}, {p})")
    return f"COMMIT; SELECT pg_notify(c, p) FROM (VALUES {', '.join(rows)}) AS n(c, p)"


class PlatformConnection(asyncpg.Connection):
    """asyncpg's connection (the engine's pool makes these, `make_engine`): a statement handed to
    it goes in the round trip of its BEGIN (`begin_with`); the transaction's kept rows (audit,
    outbox: see `_kept_with_commit`) and its NOTIFYs in the round trip of its COMMIT (see above)."""

    __slots__ = ("_after_commit", "_before_commit", "_with_begin")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._after_commit: dict[tuple[str, str], None] | None = None
        self._before_commit: str | None = None
        self._with_begin: str | None = None

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        first, self._with_begin = self._with_begin, None
        if query.startswith(("BEGIN", "ROLLBACK")):
            self._before_commit = None  # never a row kept for a transaction that did not commit
        if first and query.startswith("BEGIN") and not args:
            try:
                return await super().execute(f"{query} {first};", timeout=timeout)
            except asyncpg.PostgresError:
                if self.is_in_transaction():  # BEGIN ran, its first statement failed: end it
                    await super().execute("ROLLBACK;")
                raise
        pending, self._after_commit = self._after_commit, None
        before, self._before_commit = self._before_commit, None
        if (pending or before) and query == "COMMIT;" and not args:
            merged = _commit_and_notify(pending) if pending else None
            if merged is None:
                self._after_commit = pending  # sent after the commit, apart (_send_notifies)
                merged = query
            try:
                status = await super().execute(f"{before}; {merged}" if before else merged, timeout=timeout)
            except asyncpg.PostgresError:
                if self.is_in_transaction():  # a kept row failed: the COMMIT never ran; end it
                    await super().execute("ROLLBACK;")
                raise
            if pending and merged != query:
                pending.clear()  # sent: nothing left for _send_notifies
            return status
        return await super().execute(query, *args, timeout=timeout)


async def notify_after_commit(session: AsyncSession, channel: str, payload: str = "") -> None:
    """Send `NOTIFY channel, payload` once the session's transaction commits (the same pair twice
    is sent once); nothing when it rolls back."""
    pending = session.info.get(_NOTIFY_KEY)
    if pending is None:
        conn = await session.connection()
        pending = session.info[_NOTIFY_KEY] = (conn.sync_connection, {})
        _pending_notifies[conn.sync_connection] = pending[1]
    pending[1][(channel, payload)] = None


def _hand_notifies_to_commit(conn: Connection) -> None:
    """Right before the COMMIT (the engine's commit event): the NOTIFYs go with it."""
    pairs = _pending_notifies.pop(conn, None)
    if pairs:
        raw = conn.connection.driver_connection
        if isinstance(raw, PlatformConnection):
            raw._after_commit = pairs


@event.listens_for(Session, "after_commit")
def _send_notifies(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the transaction itself commits later
    pending = session.info.pop(_NOTIFY_KEY, None)
    if not pending:
        return
    conn, pairs = pending
    _pending_notifies.pop(conn, None)
    if not pairs:
        return  # sent with the COMMIT
    try:
        raw = conn.connection.driver_connection
        if isinstance(raw, PlatformConnection):
            raw._after_commit = None  # no COMMIT was sent (db.write_last's transaction ended itself)
        await_only(raw.execute(_NOTIFY_SQL, [c for c, _ in pairs], [p for _, p in pairs]))
    except Exception:  # noqa: BLE001 - the work is committed; a lost wake-up is caught up by polling
        log.warning("NOTIFY after commit failed: %s", ", ".join(sorted({c for c, _ in pairs})), exc_info=True)
    finally:
        pairs.clear()


@event.listens_for(Session, "after_transaction_end")
def _forget_notifies(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        pending = session.info.pop(_NOTIFY_KEY, None)  # rolled back (after a commit it is already sent)
        if pending is not None:
            _pending_notifies.pop(pending[0], None)
            pending[1].clear()  # a connection holding them for its COMMIT sends nothing


# --- audit and outbox rows: kept, then written with one statement --------------------------------------
#
# Nearly every state change writes an audit row and an outbox row. Each used to be its own INSERT,
# one round trip each (profiled: BatchedInsert.insert was 27% of svc-queue's take-ticket, asyncpg's
# per-statement cost first among its frames). Now a row is kept with the transaction's connection
# and every kept row, of every table, goes to the database in ONE statement (INSERT ... SELECT FROM
# unnest(arrays), one per table, chained as data-modifying CTEs): at the latest right before the
# connection's next statement (so a read in the same transaction sees them), before a SAVEPOINT
# (so a savepoint rolled back takes only its own rows) and before the COMMIT. A rollback (of the
# transaction, or of the savepoint they were kept in) drops them unwritten. The statement for a
# set of tables is built once and its shape does not depend on the row count (the values are
# bound apart, as arrays), so asyncpg prepares it once per connection. An error in the write
# fails the statement or the commit it preceded, so the request fails.

_kept: weakref.WeakKeyDictionary[Connection, dict[tuple[Any, tuple[str, ...]], list[dict[str, Any]]]] = \
    weakref.WeakKeyDictionary()
_written_sql: dict[tuple[Any, ...], tuple[str, list[list[Callable[[Any], Any] | None]]]] = {}


def _keep(conn: Connection, table: Any, row: dict[str, Any]) -> None:
    groups = _kept.get(conn)
    if groups is None:
        groups = _kept[conn] = {}
    groups.setdefault((table, tuple(row)), []).append(row)


# The kept UPDATEs of a connection (`keep_update`), under this key of its groups: {(table, where
# column names, where values): (set column names, row)}. A tuple shaped as the rows' keys are (a
# table, column names), whose "table" is no table.
_UPDATES: tuple[Any, tuple[str, ...]] = (None, ("<kept updates>",))
_update_sql_built: dict[tuple[Any, ...], tuple[str, list[Callable[[Any], Any] | None]]] = {}
_update_cols: dict[tuple[Any, ...], tuple[list[tuple[str, str, Callable[[Any], Any] | None]], ...]] = {}


async def keep_update(session: AsyncSession, table: Any, where: dict[str, Any], values: dict[str, Any]) -> None:
    """`UPDATE table SET values WHERE where` (each column equal to its value: one row, by a unique
    key), kept with the transaction's connection as its kept rows are (see below) and written with
    them: by their statement (as its last part) before the connection's next statement or a
    SAVEPOINT, or as a literal statement in the COMMIT's round trip, so it costs no round trip of its
    own; dropped by a rollback (of the transaction, or of the savepoint it was kept in). A later one
    for the same row, still kept, replaces it (it would have overwritten it). An error in it fails
    the statement or the COMMIT it went with: nothing commits. Pending ORM changes are flushed
    first, as a statement of the session would have flushed them."""
    if session.autoflush and (session.new or session.deleted or session.identity_map.check_modified()):
        await session.flush()
    conn = (await session.connection()).sync_connection
    assert conn is not None
    groups = _kept.get(conn)
    if groups is None:
        groups = _kept[conn] = {}
    updates = groups.get(_UPDATES)
    if updates is None:
        updates = groups[_UPDATES] = {}  # type: ignore[assignment]
    names = tuple(where)
    key = (table, names, tuple(where.values()))
    updates.pop(key, None)  # type: ignore[call-overload]  # re-kept: it goes after the rows kept since
    updates[key] = (tuple(values), {**values, **where})  # type: ignore[index]


async def write_kept(session: AsyncSession) -> None:
    """Write the rows (and the UPDATE: `keep_update`) kept for the session's transaction now, in one
    statement, rather than with its next statement or its COMMIT: for a caller that must see their
    error where it can answer it (a unique index deciding between concurrent deliveries of one
    record, caught around this call). Nothing when nothing is kept."""
    conn = await session.connection()
    sync = conn.sync_connection
    assert sync is not None
    if sync in _kept:
        await conn.run_sync(_write_kept)


def quote_table(dialect: Any, table: Any) -> str:
    return dialect.identifier_preparer.format_table(table)


def _update_sql(dialect: Any, table: Any, names: tuple[str, ...], where: tuple[str, ...],
                shift: int) -> tuple[str, list[Callable[[Any], Any] | None]]:
    """The parameterised UPDATE of a kept update (placeholders from $shift+1: set values, then
    where values) and the bind processors of those columns in that order; built once per shape."""
    key = (dialect.name, table, names, where, shift)
    built = _update_sql_built.get(key)
    if built is None:
        quote = dialect.identifier_preparer
        cols = [table.c[name] for name in (*names, *where)]
        terms = []
        for n, col in enumerate(cols, start=shift + 1):
            # A JSON value goes as its text, as the kept rows' JSON does (see _write_sql).
            cast = f"::text::{col.type.compile(dialect=dialect)}" if isinstance(col.type, JSON) else ""
            terms.append(f"{quote.quote(col.name)} = ${n}{cast}")
        sql = (f"UPDATE {quote.format_table(table)} SET {', '.join(terms[:len(names)])} "
               f"WHERE {' AND '.join(terms[len(names):])}")
        built = _update_sql_built[key] = (sql, [c.type.dialect_impl(dialect).bind_processor(dialect) for c in cols])
    return built


def _update_columns(dialect: Any, table: Any, names: tuple[str, ...], where: tuple[str, ...]) -> tuple[
        list[tuple[str, str, Callable[[Any], Any] | None]], list[tuple[str, str, Callable[[Any], Any] | None]]]:
    """Per set column, then per where column: its quoted name, its type to cast a literal to (no
    modifier: a value too long is refused, not cut) and its bind processor."""
    key = (dialect.name, table, names, where)
    built = _update_cols.get(key)
    if built is None:
        quote = dialect.identifier_preparer

        def column(name: str) -> tuple[str, str, Callable[[Any], Any] | None]:
            c = table.c[name]
            return (quote.quote(c.name), re.sub(r"\(.*?\)", "", c.type.compile(dialect=dialect)),
                    c.type.dialect_impl(dialect).bind_processor(dialect))

        built = _update_cols[key] = ([column(n) for n in names], [column(n) for n in where])
    return built  # type: ignore[return-value]


def _unkeep(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """Drop `rows` (kept for `table`) if they were not written yet."""
    groups = _kept.get(conn)
    if not groups:
        return
    drop = {id(r) for r in rows}
    for key in [k for k in groups if k[0] is table]:
        groups[key] = [r for r in groups[key] if id(r) not in drop]
        if not groups[key]:
            del groups[key]


def _write_sql(dialect: Any, groups: list[tuple[Any, tuple[str, ...], bool]]) -> tuple[list[str], list[list[Callable[[Any], Any] | None]]]:
    """The statements writing rows of `groups` ((table, column names, one row?) each; their
    placeholders numbered $1... across all of them, in order), and per group the bind processors
    of its columns (what SQLAlchemy does to each value: JSON serialised). One row of a table goes
    as VALUES (PostgreSQL plans and runs it in about half the time of the unnest form: measured
    0.035 vs 0.065 ms of backend CPU for an audit row and an outbox row), more rows as arrays (the
    same statement whatever their number). `_chained` makes them one statement."""
    key = (dialect.name, *groups)
    built = _written_sql.get(key)
    if built is not None:
        return built
    quote = dialect.identifier_preparer
    parts, processors, n = [], [], 0
    for table, names, single in groups:
        cols = [table.c[name] for name in names]
        arrays, selected, procs = [], [], []
        for col in cols:
            n += 1
            json_like = isinstance(col.type, JSON)
            type_name = col.type.compile(dialect=dialect)
            if single:
                # The parameter takes the column's type from the INSERT (a value too long is refused).
                arrays.append(f"${n}::text::{type_name}" if json_like else f"${n}")
            else:
                # The arrays' element type without its modifier (VARCHAR(200) -> VARCHAR): an explicit
                # cast to VARCHAR(200) would cut a longer value, the INSERT's assignment refuses it.
                base = re.sub(r"\(.*?\)", "", type_name)
                arrays.append(f"${n}::text[]" if json_like else f"${n}::{base}[]")
                selected.append(f"u.c{len(selected)}::{type_name}" if json_like else f"u.c{len(selected)}")
            procs.append(col.type.dialect_impl(dialect).bind_processor(dialect))
        head = f"INSERT INTO {quote.format_table(table)} ({', '.join(quote.quote(c.name) for c in cols)}) "
        if single:
            parts.append(head + f"VALUES ({', '.join(arrays)})")
        else:
            aliases = ", ".join(f"c{i}" for i in range(len(cols)))
            parts.append(head + f"SELECT {', '.join(selected)} FROM unnest({', '.join(arrays)}) WITH ORDINALITY "
                         f"AS u({aliases}, ord) ORDER BY u.ord")
        processors.append(procs)
    built = _written_sql[key] = (parts, processors)
    return built


def _chained(parts: list[str], last: str | None = None) -> str:
    """`parts` (data-modifying statements) and `last` as one statement: every part but the final
    one (all of them when `last` is given) a CTE named kept<i>. A `last` that has CTEs of its own
    (`WITH ...`) keeps them after these. PostgreSQL runs every data-modifying CTE exactly once, to
    completion, whether or not the statement reads it."""
    if last is None:
        *ctes, last = parts
    else:
        ctes, last = parts, last.lstrip()
    if not ctes:
        return last
    head = ", ".join(f"kept{i} AS ({p})" for i, p in enumerate(ctes))
    if last[:5].upper() == "WITH ":
        return f"WITH {head}, {last[5:]}"
    return f"WITH {head} {last}"


def _plain(table: Any, names: tuple[str, ...]) -> bool:
    """Rows of these columns can go through unnest: every column named exists and no column left
    out has a Python-side default (SQLAlchemy would have to compute it per row)."""
    return all(name in table.c for name in names) and not any(
        c.default is not None for c in table.c if c.name not in names)


def _take_kept(conn: Connection) -> tuple[list[str], list[Any]]:
    """The rows kept for `conn`, taken: the statements that write them (see `_write_sql`) and their
    parameters. Rows a statement of that shape cannot write (a column default computed in Python)
    are written here and now, one executemany per table."""
    groups = _kept.pop(conn, None)
    if not groups:
        return [], []
    updates = groups.pop(_UPDATES, None)
    plain = [(key, rows) for key, rows in groups.items() if _plain(*key)]
    for (table, _), rows in groups.items():
        if not _plain(table, _):
            conn.execute(table.insert(), rows)
    parts: list[str] = []
    params: list[Any] = []
    if plain:
        plain.sort(key=lambda item: (item[0][0].fullname, item[0][1]))
        built, processors = _write_sql(conn.dialect, [(*key, len(rows) == 1) for key, rows in plain])
        parts.extend(built)
        for ((_, names), rows), procs in zip(plain, processors, strict=True):
            if len(rows) == 1:
                row = rows[0]
                params.extend(proc(row[name]) if proc is not None else row[name] for name, proc in zip(names, procs, strict=True))
                continue
            for name, proc in zip(names, procs, strict=True):
                params.append([proc(r[name]) for r in rows] if proc is not None else [r[name] for r in rows])
    for (table, where, _), (names, row) in (updates or {}).items():
        sql, procs = _update_sql(conn.dialect, table, names, where, len(params))
        parts.append(sql)
        params.extend(proc(row[name]) if proc is not None else row[name]
                      for name, proc in zip((*names, *where), procs, strict=True))
    return parts, params


def _write_kept(conn: Connection) -> None:
    parts, params = _take_kept(conn)
    if parts:
        conn.exec_driver_sql(_chained(parts), tuple(params))


# At the COMMIT, the rows still kept ride in its round trip: the COMMIT is a simple query (see
# NOTIFY after commit above), and a simple query may hold several statements, run in order and
# stopped at the first error. So "INSERT ...; INSERT ...; COMMIT; SELECT pg_notify(...)": one round
# trip where the kept rows' statement and the COMMIT were two (call-next: 4 round trips -> 3). A
# simple query has no parameters: each value goes as a literal, a string under the process's
# dollar-quote tag (checked absent, as for the NOTIFYs), cast to its column's type without its
# modifier (VARCHAR(200) -> VARCHAR: the INSERT's assignment refuses a value too long, as the
# parameterised form does). Rows with a value that cannot go so (the tag in it, a NUL, a type
# not listed below) are written the parameterised way, before the COMMIT, as before. When a row
# fails, PostgreSQL runs nothing after it: the COMMIT never runs, and the connection rolls the
# transaction back (PlatformConnection.execute).

_commit_cols: dict[tuple[Any, ...], tuple[str, list[tuple[str, Callable[[Any], Any] | None]]]] = {}


def _sql_literal(value: Any, cast: str) -> str | None:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return f"{value}::{cast}"
    if isinstance(value, int):
        return f"{int(value)}::{cast}"
    if isinstance(value, uuid.UUID):
        return f"'{value}'::{cast}"
    if isinstance(value, dt.datetime):  # an instant, into a column that keeps one
        return f"'{value.isoformat()}'::{cast}" if value.tzinfo is not None and "WITH TIME ZONE" in cast else None
    if isinstance(value, dt.date):
        return f"'{value.isoformat()}'::{cast}"
    if isinstance(value, str):
        quoted = _literal(value)
        return f"{quoted}::{cast}" if quoted is not None else None
    return None


def _commit_columns(dialect: Any, table: Any, names: tuple[str, ...]) -> tuple[str, list[tuple[str, Callable[[Any], Any] | None]]]:
    key = (dialect.name, table, names)
    built = _commit_cols.get(key)
    if built is None:
        quote = dialect.identifier_preparer
        cols = [table.c[name] for name in names]
        head = f"INSERT INTO {quote.format_table(table)} ({', '.join(quote.quote(c.name) for c in cols)}) VALUES "
        built = _commit_cols[key] = (head, [
            (re.sub(r"\(.*?\)", "", c.type.compile(dialect=dialect)), c.type.dialect_impl(dialect).bind_processor(dialect))
            for c in cols])
    return built


def _kept_with_commit(conn: Connection) -> str | None:
    """The rows kept for `conn` as statements of literals (taken), to go with its COMMIT; None
    (nothing taken) when a row cannot go so."""
    groups = _kept.get(conn)
    if not groups:
        return None
    updates = groups.get(_UPDATES)
    inserts = [(key, rows) for key, rows in groups.items() if key is not _UPDATES]
    if not all(_plain(*key) for key, _ in inserts):
        return None
    statements = []
    for (table, names), rows in sorted(inserts, key=lambda item: (item[0][0].fullname, item[0][1])):
        head, columns = _commit_columns(conn.dialect, table, names)
        values = []
        for row in rows:
            literals = []
            for name, (cast, proc) in zip(names, columns, strict=True):
                literal = _sql_literal(proc(row[name]) if proc is not None else row[name], cast)
                if literal is None:
                    return None
                literals.append(literal)
            values.append(f"({', '.join(literals)})")
        statements.append(head + ", ".join(values))
    for (table, where, _), (names, row) in (updates or {}).items():
        sets, conds = _update_columns(conn.dialect, table, names, where)
        literals = []
        for name, (column, cast, proc) in zip((*names, *where), (*sets, *conds), strict=True):
            literal = _sql_literal(proc(row[name]) if proc is not None else row[name], cast)
            if literal is None:
                return None
            literals.append(f"{column} = {literal}")
        statements.append(f"UPDATE {quote_table(conn.dialect, table)} SET {', '.join(literals[:len(names)])} "
                          f"WHERE {' AND '.join(literals[len(names):])}")
    del _kept[conn]
    return "; ".join(statements)


@event.listens_for(Engine, "before_execute")
def _write_before_statement(conn: Connection, clauseelement: Any, multiparams: Any, params: Any,
                            execution_options: Any) -> None:
    if conn in _written_alone:
        raise RuntimeError("a statement after the request's last one (write_last): it would not commit with it")
    if conn in _kept:
        _write_kept(conn)


# --- the request's last statement, with its kept rows, in one round trip --------------------------------
#
# A request whose whole write is one statement (taking a ticket: the ticket, its audit row and its
# event) paid BEGIN, the statement, the kept rows' statement and COMMIT: four round trips, where
# one statement that writes all of it is its own transaction. `write_last` sends it so.

_written_alone: weakref.WeakSet[Connection] = weakref.WeakSet()
# What a pooled connection whose backend was ended raises on its next statement: the socket's
# errors, asyncpg's "connection closed", the server's FATAL (57P01 admin_shutdown and its class),
# or, when that FATAL arrived while the connection sat idle in the pool, asyncpg's protocol left in
# a state no statement can start from ("another operation is in progress").
LOST_CONNECTION = (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
                   asyncpg.exceptions.OperatorInterventionError, asyncpg.exceptions.InternalClientError)
_PLACEHOLDER = re.compile(r"\$(\d+)")
_last_sql: dict[tuple[str, ...], str] = {}


async def raw_connection(session: AsyncSession) -> tuple[AsyncConnection, asyncpg.Connection]:
    """The session's connection (its transaction begun in SQLAlchemy; on the database only with
    its first statement) and the asyncpg connection under it."""
    conn = await session.connection()
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    return conn, raw


async def begin_with(session: AsyncSession, sql: str) -> None:
    """Begin the session's transaction on the database now, with `sql` run right after the BEGIN
    in the same round trip (one simple query): a statement without parameters (its values are
    literals the caller vouches for: ids it parsed) whose rows are not read, such as a row lock
    the transaction must hold before its first statement takes its snapshot. When the transaction
    has already begun, `sql` is just run."""
    conn, raw = await raw_connection(session)
    adapter = (await conn.get_raw_connection()).dbapi_connection
    start = getattr(adapter, "_start_transaction", None)
    if (not isinstance(raw, PlatformConnection) or start is None or raw.is_in_transaction()
            or getattr(adapter, "_transaction", True) is not None):
        await conn.exec_driver_sql(sql)
        return
    raw._with_begin = sql
    try:
        # SQLAlchemy's asyncpg adapter begins its transaction with the first statement; asked now.
        await start()
    except Exception as exc:
        # The adapter raises its own DBAPI-style errors, the driver's as their cause.
        if raw.is_closed() or isinstance(exc, LOST_CONNECTION) or isinstance(exc.__cause__, LOST_CONNECTION):
            await conn.invalidate()
            raise ConnectionError(f"the database connection was lost: {exc}") from exc
        raise
    finally:
        raw._with_begin = None


async def write_last(session: AsyncSession, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Run `sql` (asyncpg's $1... placeholders, no other `$` in it) as the request's last statement,
    with the rows kept for the transaction (audit, outbox: BatchedInsert) written by the same
    statement, as data-modifying CTEs before its own; its rows.

    When no statement of the session's transaction has reached the database yet, the statement is
    a transaction of its own: committed (durably, as any commit) when it ends, with no BEGIN and no
    COMMIT round trips; the session's commit then only sends what waits for it (NOTIFYs). Nothing
    may follow it in the session: a later statement would not commit with it, and is refused
    (RuntimeError). In a transaction already begun (an Idempotency-Key's claim ran first), it is
    one more statement of it. A lost connection is dropped from the pool and raised as
    ConnectionError (answered 503 + Retry-After)."""
    conn, raw = await raw_connection(session)
    sync = conn.sync_connection
    assert sync is not None
    if sync in _written_alone:
        raise RuntimeError("a second write_last in one session")
    parts, params = _take_kept(sync)
    if params:
        key = (*parts, sql)
        chained = _last_sql.get(key)
        if chained is None:
            shift = len(params)
            chained = _last_sql[key] = _chained(parts, _PLACEHOLDER.sub(lambda m: f"${int(m.group(1)) + shift}", sql))
        sql = chained
    alone = not raw.is_in_transaction()
    try:
        rows = await raw.fetch(sql, *params, *args)
    except LOST_CONNECTION as exc:
        await conn.invalidate()
        raise ConnectionError(f"the database connection was lost: {exc}") from exc
    if alone:
        _written_alone.add(sync)
    return rows


@event.listens_for(Engine, "savepoint")
def _write_before_savepoint(conn: Connection, name: str | None) -> None:
    if conn in _kept:
        _write_kept(conn)


@event.listens_for(Engine, "commit")
def _write_before_commit(conn: Connection) -> None:
    if conn in _kept:
        raw = conn.connection.driver_connection
        # Only a transaction begun on the database sends a COMMIT (asyncpg's begins with its first
        # statement): with nothing sent yet, the rows' own statement begins it, as before.
        ride = (isinstance(raw, PlatformConnection) and raw.is_in_transaction()
                and getattr(conn.connection.dbapi_connection, "_transaction", None) is not None)
        sql = _kept_with_commit(conn) if ride else None
        if sql is not None:
            raw._before_commit = sql
        else:
            _write_kept(conn)
    if conn in _pending_notifies:
        _hand_notifies_to_commit(conn)


@event.listens_for(Engine, "rollback")
def _drop_on_rollback(conn: Connection) -> None:
    _kept.pop(conn, None)


@event.listens_for(Engine, "rollback_savepoint")
def _drop_on_savepoint_rollback(conn: Connection, name: str, context: Any) -> None:
    # Everything kept was kept after this savepoint began (a SAVEPOINT writes what was kept before
    # it), or after an inner one was released within it: all of it goes with the savepoint.
    _kept.pop(conn, None)


class BatchedInsert:
    """Rows for one table, kept with the transaction's connection and written with the rows of
    every other BatchedInsert table in one statement before the connection's next statement, a
    SAVEPOINT or the COMMIT (see above). The audit trail and the outbox write their rows this way.
    `batched` marks a block whose rows are reported together (the outbox notifies once for them);
    an error in the block drops its rows not written yet."""

    def __init__(self, table: Any, key: str) -> None:
        self.table = table
        self._key = key

    async def insert(self, session: AsyncSession, row: dict[str, Any]) -> bool:
        """Keep `row` for the transaction; True unless an open `batched` block reports it."""
        if session.autoflush and (session.new or session.deleted or session.identity_map.check_modified()):
            # What an INSERT through session.execute did before: the ORM's pending changes are
            # flushed first (a service reads what the flush's RETURNING gives, created_at...).
            await session.flush()
        conn = (await session.connection()).sync_connection
        assert conn is not None
        _keep(conn, self.table, row)
        pending = session.info.get(self._key)
        if pending is not None:
            pending.append(row)
            return False
        return True

    @contextlib.asynccontextmanager
    async def batched(self, session: AsyncSession) -> AsyncIterator[list[dict[str, Any]]]:
        """Collect the rows inserted within the block. Yields the collected rows (empty in a nested
        block, whose rows go to the outer one)."""
        if self._key in session.info:
            yield []
            return
        session.info[self._key] = rows = []
        try:
            yield rows
        except BaseException:
            if rows:
                with contextlib.suppress(SQLAlchemyError):  # a failed transaction: its rollback drops them
                    conn = (await session.connection()).sync_connection
                    if conn is not None:
                        _unkeep(conn, self.table, rows)
            raise
        finally:
            session.info.pop(self._key, None)
