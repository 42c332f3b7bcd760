from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.gateway.token.models import SigningKey

# Any constant works: it only has to be the same in every replica of the gateway.
SIGNING_KEY_LOCK = 0x7467_6B65_7973  # "tgkeys"


async def active_keys(session: AsyncSession) -> Sequence[SigningKey]:
    """Keys not retired, newest first (the first one signs)."""
    stmt = select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(
        SigningKey.created_at.desc(), SigningKey.kid)
    return (await session.execute(stmt)).scalars().all()


async def lock_signing_keys(session: AsyncSession) -> None:
    """Serialise key creation across replicas until the end of the transaction."""
    await session.execute(select(func.pg_advisory_xact_lock(SIGNING_KEY_LOCK)))


async def add(session: AsyncSession, key: SigningKey) -> SigningKey:
    session.add(key)
    await session.flush()
    return key
