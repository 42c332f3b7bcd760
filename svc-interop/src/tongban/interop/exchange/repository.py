import datetime as dt

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.interop.exchange.models import Nonce


async def claim_nonce(session: AsyncSession, partner: str, nonce: str, expires_at: dt.datetime) -> bool:
    """True if the nonce is new for this partner (and is now remembered), False if seen before."""
    row = (await session.execute(
        insert(Nonce).values(partner=partner, nonce=nonce, expires_at=expires_at)
        .on_conflict_do_nothing().returning(Nonce.nonce))).first()
    return row is not None


async def purge_nonces(session: AsyncSession, now: dt.datetime) -> int:
    """Forget nonces whose messages would fail the clock check anyway."""
    result = await session.execute(delete(Nonce).where(Nonce.expires_at < now))
    return result.rowcount or 0
