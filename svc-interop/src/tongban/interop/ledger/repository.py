from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.interop.ledger.models import MessageLog, MessageLogHead


# Built once. Appends are serialised on the head row: each needs the previous hash. Under READ
# COMMITTED a `FOR UPDATE` that waited for another append reads the row as that append committed
# it, so the lock and the read are one statement (the trigger moves the head with every insert).
_HEAD = select(MessageLogHead.seq, MessageLogHead.hash).where(MessageLogHead.id == 1).with_for_update()


async def lock_head(session: AsyncSession) -> tuple[int, str]:
    """(seq, hash) of the last entry ((0, genesis) before the first), locked until the transaction ends."""
    row = (await session.execute(_HEAD)).one()
    return row.seq, row.hash


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
