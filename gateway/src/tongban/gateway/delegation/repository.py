import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.gateway.delegation.models import Delegation


async def add(session: AsyncSession, delegation: Delegation) -> Delegation:
    session.add(delegation)
    await session.flush()
    await session.refresh(delegation)
    return delegation


async def get_for_update(session: AsyncSession, delegation_id: uuid.UUID) -> Delegation | None:
    return await session.get(Delegation, delegation_id, with_for_update=True)


def visible_stmt(credit_code: str, agent_id: uuid.UUID | None) -> Select[tuple[Delegation]]:
    """A company's delegations (or only one agent's), newest first."""
    stmt = select(Delegation).where(Delegation.credit_code == credit_code)
    if agent_id is not None:
        stmt = stmt.where(Delegation.agent_id == agent_id)
    return stmt.order_by(Delegation.created_at.desc(), Delegation.id)


async def active_for_agent(session: AsyncSession, agent_id: uuid.UUID, now: dt.datetime) -> Sequence[Delegation]:
    """The agent's delegations not revoked and not expired."""
    stmt = select(Delegation).where(Delegation.agent_id == agent_id, Delegation.revoked_at.is_(None),
                                    Delegation.expires_at > now)
    return (await session.execute(stmt)).scalars().all()
