import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.gateway.account.models import Account


async def get(session: AsyncSession, account_id: uuid.UUID) -> Account | None:
    return await session.get(Account, account_id)


async def get_by_username(session: AsyncSession, username: str) -> Account | None:
    return (await session.execute(select(Account).where(Account.username == username))).scalar_one_or_none()


async def citizen_by_id_number(session: AsyncSession, id_number: str) -> Account | None:
    """A citizen account that names this ID number (the verified one first)."""
    stmt = (select(Account).where(Account.role == "citizen", Account.id_number == id_number, Account.active.is_(True))
            .order_by(Account.real_name_level.desc(), Account.created_at).limit(1))
    return (await session.execute(stmt)).scalars().first()


async def add(session: AsyncSession, account: Account) -> Account:
    session.add(account)
    await session.flush()
    await session.refresh(account)
    return account


def list_stmt(role: str | None) -> Select[tuple[Account]]:
    """Accounts, oldest first (id breaks ties), optionally of one role."""
    stmt = select(Account).order_by(Account.created_at, Account.id)
    return stmt.where(Account.role == role) if role else stmt


async def get_for_update(session: AsyncSession, account_id: uuid.UUID) -> Account | None:
    return await session.get(Account, account_id, with_for_update=True)
