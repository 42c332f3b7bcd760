from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.interop.ledger.models import MessageLog


_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('interop.message_log'))")
_HEAD = select(MessageLog.seq, MessageLog.hash).order_by(MessageLog.seq.desc()).limit(1)  # built once


async def lock_head(session: AsyncSession) -> None:
    """Appends are serialised (transaction-scoped advisory lock): each needs the previous hash."""
    await session.execute(_LOCK)


async def head(session: AsyncSession) -> tuple[int, str] | None:
    """(seq, hash) of the last entry: only what the next entry needs, not its bodies."""
    row = (await session.execute(_HEAD)).first()
    return (row.seq, row.hash) if row else None


COLUMNS = tuple(c.key for c in MessageLog.__table__.columns)


async def add_all(session: AsyncSession, entries: list[MessageLog]) -> None:
    """One INSERT (Core: the entries are built for their hashes and never change, so the ORM's
    unit of work has nothing to track)."""
    rows = [{c: getattr(e, c) for c in COLUMNS} for e in entries]
    await (await session.connection()).execute(MessageLog.__table__.insert(), rows)


async def batch_after(session: AsyncSession, seq: int, size: int) -> Sequence[MessageLog]:
    return (await session.execute(
        select(MessageLog).where(MessageLog.seq > seq).order_by(MessageLog.seq).limit(size))).scalars().all()


async def by_message_id(session: AsyncSession, message_id: str) -> Sequence[MessageLog]:
    return (await session.execute(
        select(MessageLog).where(MessageLog.message_id == message_id).order_by(MessageLog.seq))).scalars().all()


def list_query(partner: str | None, outcome: str | None):  # noqa: ANN201 - a Select
    stmt = select(MessageLog).order_by(MessageLog.seq.desc())
    if partner:
        stmt = stmt.where(MessageLog.partner == partner)
    if outcome:
        stmt = stmt.where(MessageLog.outcome == outcome)
    return stmt
