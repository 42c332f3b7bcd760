"""Async engine, one transaction per request or message, and the metadata convention."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

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
    """The request's one transaction; it commits before the response is sent (scope=function)."""
    async with request.app.state.sessionmaker() as session, session.begin():
        yield session


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


class BatchedInsert:
    """Rows for one table, inserted one by one, or kept within `batched` and written with one
    multi-row INSERT at its end (a flow writing thousands of rows in one transaction saves a round
    trip each). The audit trail and the outbox write their rows this way. An error in the block
    writes nothing: the transaction is rolled back anyway."""

    def __init__(self, table: Any, key: str) -> None:
        self.table = table
        self._key = key

    async def insert(self, session: AsyncSession, row: dict[str, Any]) -> bool:
        """Insert `row` now, or keep it for the open batch; True when it was inserted now."""
        pending = session.info.get(self._key)
        if pending is not None:
            pending.append(row)
            return False
        await session.execute(self.table.insert().values(**row))
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
            await session.execute(self.table.insert(), rows)
