from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.credentials.licence_type.models import LicenceType
from tongban.credentials.signing.models import SigningKey


async def get(session: AsyncSession, code: str) -> LicenceType | None:
    return await session.get(LicenceType, code)


async def names(session: AsyncSession, codes: set[str]) -> dict[str, str]:
    """The names of these licence types, by code (one query for a page of licences)."""
    if not codes:
        return {}
    rows = await session.execute(select(LicenceType.code, LicenceType.name).where(LicenceType.code.in_(codes)))
    return {code: name for code, name in rows.all()}


async def get_with_key(session: AsyncSession, code: str) -> tuple[LicenceType, SigningKey | None] | None:
    """A licence type and its issuer's active signing key (None before the first), in one query:
    issuing needs both."""
    row = (await session.execute(_WITH_KEY, {"code": code})).first()
    return (row[0], row[1]) if row is not None else None


# Built once per process, the code bound per call: building it per licence was a twentieth of the
# service's CPU per 秒批 licence.
_WITH_KEY = (select(LicenceType, SigningKey)
             .outerjoin(SigningKey, (SigningKey.issuer_code == LicenceType.issuer_code)
                        & (SigningKey.status == "active"))
             .where(LicenceType.code == bindparam("code")).order_by(SigningKey.created_at.desc()).limit(1))


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
