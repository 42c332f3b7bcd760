from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.credentials.licence_type.models import LicenceType


async def get(session: AsyncSession, code: str) -> LicenceType | None:
    return await session.get(LicenceType, code)


async def add(session: AsyncSession, row: LicenceType) -> LicenceType:
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


def list_query(issuer_code: str | None = None) -> Select[tuple[LicenceType]]:
    """Licence types by code, optionally of one issuer."""
    stmt = select(LicenceType).order_by(LicenceType.code)
    if issuer_code:
        stmt = stmt.where(LicenceType.issuer_code == issuer_code)
    return stmt
