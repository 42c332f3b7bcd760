"""Async engine, one transaction per request or message, and the metadata convention."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import MetaData, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
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
                               pool_timeout=pool_timeout, pool_recycle=1800)


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

_NOTIFY_KEY = "tongban_notify_after_commit"
_NOTIFY_SQL = "SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p)"


async def notify_after_commit(session: AsyncSession, channel: str, payload: str = "") -> None:
    """Send `NOTIFY channel, payload` once the session's transaction commits (the same pair twice
    is sent once); nothing when it rolls back."""
    pending = session.info.get(_NOTIFY_KEY)
    if pending is None:
        conn = await session.connection()
        pending = session.info[_NOTIFY_KEY] = (conn.sync_connection, {})
    pending[1][(channel, payload)] = None


@event.listens_for(Session, "after_commit")
def _send_notifies(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the transaction itself commits later
    pending = session.info.pop(_NOTIFY_KEY, None)
    if not pending:
        return
    conn, pairs = pending
    try:
        raw = conn.connection.driver_connection
        await_only(raw.execute(_NOTIFY_SQL, [c for c, _ in pairs], [p for _, p in pairs]))
    except Exception:  # noqa: BLE001 - the work is committed; a lost wake-up is caught up by polling
        log.warning("NOTIFY after commit failed: %s", ", ".join(sorted({c for c, _ in pairs})), exc_info=True)


@event.listens_for(Session, "after_transaction_end")
def _forget_notifies(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_NOTIFY_KEY, None)  # rolled back (after a commit it is already sent)


class BatchedInsert:
    """Rows for one table, inserted one by one, or kept within `batched` and written with one
    multi-row INSERT at its end (a flow writing thousands of rows in one transaction saves a round
    trip each). The audit trail and the outbox write their rows this way. An error in the block
    writes nothing: the transaction is rolled back anyway."""

    def __init__(self, table: Any, key: str) -> None:
        self.table = table
        self._key = key
        # One statement object for every row, its values bound apart: SQLAlchemy then keeps its
        # cache key and compiled form (a fresh `insert().values(**row)` rebuilt both each time:
        # profiled, cache-key work was the first SQLAlchemy frame of svc-queue's calls).
        self._insert = table.insert()

    async def insert(self, session: AsyncSession, row: dict[str, Any]) -> bool:
        """Insert `row` now, or keep it for the open batch; True when it was inserted now."""
        pending = session.info.get(self._key)
        if pending is not None:
            pending.append(row)
            return False
        await session.execute(self._insert, row)
        return True

    @contextlib.asynccontextmanager
    async def batched(self, session: AsyncSession) -> AsyncIterator[list[dict[str, Any]]]:
        """Keep the rows inserted within the block; write them at its end. Yields the kept rows
        (empty in a nested block, whose rows go to the outer one)."""
        if self._key in session.info:
            yield []
            return
        session.info[self._key] = rows = []
        try:
            yield rows
        finally:
            session.info.pop(self._key, None)
        if rows:
            await session.execute(self._insert, rows)
