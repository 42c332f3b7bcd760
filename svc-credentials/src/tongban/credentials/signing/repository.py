from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import func

from tongban.credentials.signing.models import Issuer, SigningKey


async def get_issuer(session: AsyncSession, code: str, lock: bool = False) -> Issuer | None:
    """The issuer with this credit code; `lock` holds its row until the transaction ends."""
    stmt = select(Issuer).where(Issuer.code == code)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def add(session: AsyncSession, row: Issuer | SigningKey) -> None:
    session.add(row)
    await session.flush()
    await session.refresh(row)


async def save(session: AsyncSession, row: Issuer) -> None:
    """Flush a change and reload server-set columns (updated_at)."""
    await session.flush()
    await session.refresh(row)


async def active_key(session: AsyncSession, issuer_code: str) -> SigningKey | None:
    """The key an issuer signs with now (the newest active one)."""
    return (await session.execute(
        select(SigningKey).where(SigningKey.issuer_code == issuer_code, SigningKey.status == "active")
        .order_by(SigningKey.created_at.desc()).limit(1))).scalar_one_or_none()


async def get_key(session: AsyncSession, kid: str) -> SigningKey | None:
    return await session.get(SigningKey, kid)


async def retire_keys(session: AsyncSession, issuer_code: str) -> None:
    await session.execute(update(SigningKey).where(SigningKey.issuer_code == issuer_code,
                                                   SigningKey.status == "active")
                          .values(status="retired", retired_at=func.now()))


async def all_keys(session: AsyncSession) -> list[SigningKey]:
    return list((await session.execute(select(SigningKey).order_by(SigningKey.issuer_code, SigningKey.created_at)))
                .scalars())


def issuers_query() -> Select[tuple[Issuer]]:
    return select(Issuer).order_by(Issuer.code)
