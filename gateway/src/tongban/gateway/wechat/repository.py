import uuid
from collections.abc import Sequence

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.gateway.account.models import Account
from tongban.gateway.wechat.models import WeChatIdentity


async def lock_person(session: AsyncSession, key: str) -> None:
    """Serialise binds of one WeChat person (unionid, else appid+openid) until the transaction ends."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"wechat:{key}", 0))))


async def by_openid(session: AsyncSession, appid: str, openid: str) -> WeChatIdentity | None:
    stmt = select(WeChatIdentity).where(WeChatIdentity.appid == appid, WeChatIdentity.openid == openid)
    return (await session.execute(stmt)).scalar_one_or_none()


async def by_unionid(session: AsyncSession, unionid: str) -> Sequence[WeChatIdentity]:
    stmt = select(WeChatIdentity).where(WeChatIdentity.unionid == unionid).order_by(WeChatIdentity.created_at)
    return (await session.execute(stmt)).scalars().all()


async def of_account(session: AsyncSession, account_id: uuid.UUID) -> Sequence[WeChatIdentity]:
    stmt = select(WeChatIdentity).where(WeChatIdentity.account_id == account_id)
    return (await session.execute(stmt)).scalars().all()


def account_query(account_id: uuid.UUID) -> Select[tuple[WeChatIdentity]]:
    return (select(WeChatIdentity).where(WeChatIdentity.account_id == account_id)
            .order_by(WeChatIdentity.created_at, WeChatIdentity.id))


async def add(session: AsyncSession, identity: WeChatIdentity) -> WeChatIdentity:
    session.add(identity)
    await session.flush()
    return identity


async def remove(session: AsyncSession, identity: WeChatIdentity) -> None:
    await session.delete(identity)
    await session.flush()


async def account_by_verified_phone(session: AsyncSession, phone: str) -> Account | None:
    stmt = select(Account).where(Account.phone == phone, Account.phone_verified_at.is_not(None),
                                 Account.active.is_(True))
    return (await session.execute(stmt)).scalar_one_or_none()
