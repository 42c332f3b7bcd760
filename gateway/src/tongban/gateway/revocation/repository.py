import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.gateway.revocation.models import TokenRevocation


async def add_all(session: AsyncSession, rows: list[TokenRevocation]) -> None:
    session.add_all(rows)
    await session.flush()


async def live(session: AsyncSession, now: dt.datetime, since: dt.datetime | None = None) -> Sequence[TokenRevocation]:
    """Revocations that can still refuse a token, optionally only those recorded after `since`."""
    stmt = select(TokenRevocation).where(TokenRevocation.expires_at > now)
    if since is not None:
        stmt = stmt.where(TokenRevocation.created_at > since)
    return (await session.execute(stmt)).scalars().all()
