import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.gateway.delegation.models import Delegation


async def add(session: AsyncSession, delegation: Delegation) -> Delegation:
    session.add(delegation)
    await session.flush()
    await session.refresh(delegation)
    return delegation


async def get_for_update(session: AsyncSession, delegation_id: uuid.UUID) -> Delegation | None:
    return await session.get(Delegation, delegation_id, with_for_update=True)


def visible_stmt(principal_id: str | None, agent_id: uuid.UUID | None) -> Select[tuple[Delegation]]:
    """Delegations granted by a principal, or to an agent, or either, newest first."""
    conditions = []
    if principal_id is not None:
        conditions.append(Delegation.principal_id == principal_id)
    if agent_id is not None:
        conditions.append(Delegation.agent_id == agent_id)
    return select(Delegation).where(or_(*conditions)).order_by(Delegation.created_at.desc(), Delegation.id)


async def active_for_agent(session: AsyncSession, agent_id: uuid.UUID, now: dt.datetime) -> Sequence[Delegation]:
    """The agent's delegations in force now (started, not revoked, not expired), newest first."""
    stmt = (select(Delegation).where(Delegation.agent_id == agent_id, Delegation.revoked_at.is_(None),
                                     Delegation.starts_at <= now, Delegation.expires_at > now)
            .order_by(Delegation.created_at.desc(), Delegation.id))
    return (await session.execute(stmt)).scalars().all()
