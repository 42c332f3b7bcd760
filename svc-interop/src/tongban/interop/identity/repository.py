from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.interop.identity.models import SigningKey


async def lock_keys(session: AsyncSession) -> None:
    """Serialise first-start key generation across processes (transaction-scoped advisory lock)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('interop.signing_key'))"))


async def active_keys(session: AsyncSession) -> list[SigningKey]:
    """Keys not retired, newest first (the newest signs; all are published)."""
    return list((await session.execute(
        select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.created_at.desc())
    )).scalars())


async def add(session: AsyncSession, key: SigningKey) -> None:
    session.add(key)
    await session.flush()
