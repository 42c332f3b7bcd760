import datetime as dt

from sqlalchemy import DateTime, String, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.interop.exchange.models import Nonce
from tongban.interop.partner.repository import VERSION

# Built once, the values bound apart. The nonce goes in unless seen before; the same statement
# reads the partner registry's version (see partner.models.PartnerVersion), so the edge's
# in-memory partners and keys are checked against the database at no extra round trip.
_CLAIMED = (insert(Nonce).values(partner=bindparam("partner", type_=String()), nonce=bindparam("nonce", type_=String()),
                                 expires_at=bindparam("expires_at", type_=DateTime(timezone=True)))
            .on_conflict_do_nothing().returning(Nonce.nonce).cte("claimed"))
_CLAIM = select(select(func.count()).select_from(_CLAIMED).scalar_subquery().label("claimed"), VERSION.label("version"))


async def claim_nonce(session: AsyncSession, partner: str, nonce: str, expires_at: dt.datetime) -> tuple[bool, int]:
    """(True if the nonce is new for this partner and is now remembered, False if seen before;
    the partner registry's version as this statement saw it)."""
    row = (await session.execute(_CLAIM, {"partner": partner, "nonce": nonce, "expires_at": expires_at})).one()
    return row.claimed > 0, row.version


async def purge_nonces(session: AsyncSession, now: dt.datetime) -> int:
    """Forget nonces whose messages would fail the clock check anyway."""
    result = await session.execute(delete(Nonce).where(Nonce.expires_at < now))
    return result.rowcount or 0
