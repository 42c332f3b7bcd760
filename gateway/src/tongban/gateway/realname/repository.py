import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.gateway.account.models import Account
from tongban.gateway.realname.models import RealNameCheck


async def add(session: AsyncSession, check: RealNameCheck) -> None:
    session.add(check)
    await session.flush()


async def other_claimants(session: AsyncSession, id_number: str, account_id: uuid.UUID) -> Sequence[Account]:
    """The other active citizen accounts that name this ID number, locked."""
    stmt = (select(Account).where(Account.role == "citizen", Account.id_number == id_number,
                                  Account.id != account_id, Account.active.is_(True))
            .order_by(Account.id).with_for_update())
    return (await session.execute(stmt)).scalars().all()
