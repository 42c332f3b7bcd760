import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from tongban.interop.delivery.models import OutboundMessage
from tongban.interop.partner.repository import VERSION
from tongban.shared import clock, db

NOTIFY_CHANNEL = "interop_delivery"


async def add(session: AsyncSession, message: OutboundMessage) -> None:
    """Insert, and wake the deliverer once the transaction has committed (a NOTIFY inside it would
    hold PostgreSQL's notify lock across the commit's flush; the deliverer also polls)."""
    session.add(message)
    await session.flush()
    await db.notify_after_commit(session, NOTIFY_CHANNEL)


async def claim_due(session: AsyncSession, batch: int, lease: dt.timedelta
                    ) -> tuple[Sequence[OutboundMessage], int | None]:
    """Take due messages for one attempt: push their next attempt past the lease, so another
    deliverer (or this one after a crash) retries only if this attempt never reports back.
    With them, the partner registry's version, read by the same statement (the wire's copies of
    partners and their keys are checked against it, exchange.wire.Wire)."""
    result = (await session.execute(
        select(OutboundMessage, VERSION.label("version"))
        .where(OutboundMessage.state == "pending", OutboundMessage.next_attempt_at <= func.now())
        .order_by(OutboundMessage.next_attempt_at).limit(batch).with_for_update(of=OutboundMessage, skip_locked=True)
    )).all()
    rows = [row for row, _ in result]
    for row in rows:
        row.attempts += 1
        row.next_attempt_at = clock.now() + lease
    await session.flush()
    return rows, (result[0].version if result else None)


async def seconds_to_next_due(session: AsyncSession) -> float | None:
    value = (await session.execute(
        select(func.extract("epoch", func.min(OutboundMessage.next_attempt_at) - func.now()))
        .where(OutboundMessage.state == "pending"))).scalar()
    return None if value is None else max(0.05, float(value))


async def get_for_update(session: AsyncSession, message_id: uuid.UUID) -> OutboundMessage | None:
    return (await session.execute(
        select(OutboundMessage).where(OutboundMessage.id == message_id).with_for_update())).scalar_one_or_none()


async def mark(session: AsyncSession, message_id: uuid.UUID, **values: object) -> None:
    await session.execute(update(OutboundMessage).where(OutboundMessage.id == message_id).values(**values))


def list_query(partner: str | None, state: str | None):  # noqa: ANN201 - a Select
    stmt = select(OutboundMessage).order_by(OutboundMessage.created_at.desc(), OutboundMessage.id)
    if partner:
        stmt = stmt.where(OutboundMessage.partner == partner)
    if state:
        stmt = stmt.where(OutboundMessage.state == state)
    return stmt
