import datetime as dt
import uuid

from sqlalchemy import Select, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.ticket.models import HotlineTicket
from tongban.shared.auth import Principal
from tongban.shared.policy import Clause

OPEN = ("received", "dispatched", "handling")


async def add(session: AsyncSession, ticket: HotlineTicket) -> None:
    session.add(ticket)
    await session.flush()


async def get(session: AsyncSession, ticket_id: uuid.UUID) -> HotlineTicket | None:
    return (await session.execute(select(HotlineTicket).where(HotlineTicket.id == ticket_id).with_for_update())
            ).scalar_one_or_none()


def visible_to(p: Principal | None, reach: tuple[Clause, ...]):  # noqa: ANN201 - a SQL expression
    """What the policy lets the caller reach (Access.reach): tickets about the caller or her
    principal, tickets of staff's departments (one not dispatched yet has none: every clerk's),
    and the tickets the caller's own account opened (policy.OPENER_READS)."""
    parts = []
    for c in reach:
        if c.owner is not None:
            parts.append(HotlineTicket.citizen_id == c.owner)
        elif c.departments is not None:
            mine = HotlineTicket.department.in_(sorted(c.departments))
            parts.append(or_(HotlineTicket.department.is_(None), mine) if c.halls is not None else mine)
        else:
            parts.append(true())
    if p is not None:
        parts.append(HotlineTicket.created_by == p.sub)
    return or_(*parts) if parts else false()


def list_query(p: Principal | None, reach: tuple[Clause, ...], state: str | None) -> Select[tuple[HotlineTicket]]:
    stmt = select(HotlineTicket).where(visible_to(p, reach))
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
