import datetime as dt
import uuid

from sqlalchemy import Select, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.ticket.models import HotlineTicket
from tongban.shared.auth import Principal

OPEN = ("received", "dispatched", "handling")


async def add(session: AsyncSession, ticket: HotlineTicket) -> None:
    session.add(ticket)
    await session.flush()


async def get(session: AsyncSession, ticket_id: uuid.UUID) -> HotlineTicket | None:
    return (await session.execute(select(HotlineTicket).where(HotlineTicket.id == ticket_id).with_for_update())
            ).scalar_one_or_none()


def visible_to(p: Principal):  # noqa: ANN201 - a SQL expression
    if p.role == "approver":
        return HotlineTicket.department == p.department if p.department else false()
    if p.role in ("clerk", "admin", "auditor"):
        return HotlineTicket.id.is_not(None)
    return HotlineTicket.citizen_id == p.id_number if p.id_number else false()


def list_query(p: Principal, state: str | None) -> Select[tuple[HotlineTicket]]:
    stmt = select(HotlineTicket).where(visible_to(p))
    if state:
        stmt = stmt.where(HotlineTicket.state == state)
    return stmt.order_by(or_(HotlineTicket.state.in_(OPEN)).desc(), HotlineTicket.due_on, HotlineTicket.id)


async def overdue_unsupervised(session: AsyncSession, today: dt.date, limit: int = 500) -> list[HotlineTicket]:
    stmt = (select(HotlineTicket).where(HotlineTicket.state.in_(OPEN), HotlineTicket.due_on < today,
                                        HotlineTicket.supervised_at.is_(None))
            .order_by(HotlineTicket.due_on).limit(limit).with_for_update(skip_locked=True))
    return list((await session.execute(stmt)).scalars())


async def by_referral(session: AsyncSession, referral_id: uuid.UUID) -> HotlineTicket | None:
    return (await session.execute(select(HotlineTicket).where(HotlineTicket.referral_id == referral_id))
            ).scalar_one_or_none()
