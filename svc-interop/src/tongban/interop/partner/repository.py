
from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from tongban.interop.partner.models import Partner, PartnerKey, PartnerVersion
from tongban.shared import clock


async def get(session: AsyncSession, region_code: str, for_update: bool = False) -> Partner | None:
    stmt = select(Partner).where(Partner.region_code == region_code)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def keys_of(session: AsyncSession, region_code: str) -> list[PartnerKey]:
    """Every key of the partner (revoked ones too), oldest first."""
    return list((await session.execute(
        select(PartnerKey).where(PartnerKey.region_code == region_code).order_by(PartnerKey.created_at, PartnerKey.kid)
    )).scalars())


async def active_key(session: AsyncSession, region_code: str, kid: str) -> PartnerKey | None:
    return (await session.execute(select(PartnerKey).where(
        PartnerKey.region_code == region_code, PartnerKey.kid == kid, PartnerKey.revoked_at.is_(None)
    ))).scalar_one_or_none()


async def active_keys(session: AsyncSession, region_code: str) -> list[PartnerKey]:
    return list((await session.execute(select(PartnerKey).where(
        PartnerKey.region_code == region_code, PartnerKey.revoked_at.is_(None))
    )).scalars())


async def get_key(session: AsyncSession, region_code: str, kid: str) -> PartnerKey | None:
    return await session.get(PartnerKey, (region_code, kid))


async def add(session: AsyncSession, *rows: Partner | PartnerKey) -> None:
    session.add_all(rows)
    await session.flush()


async def revoke_key(key: PartnerKey) -> None:
    key.revoked_at = clock.now()


def list_query(status: str | None) -> Select[tuple[Partner]]:
    stmt = select(Partner).order_by(Partner.region_code)
    if status:
        stmt = stmt.where(Partner.status == status)
    return stmt


async def active(session: AsyncSession) -> list[Partner]:
    return list((await session.execute(
        select(Partner).where(Partner.status == "active").order_by(Partner.region_code))).scalars())


# The registry's version, as one scalar (every process compares its in-memory partners with it).
VERSION = select(PartnerVersion.version).where(PartnerVersion.id == 1).scalar_subquery()
# Built once, the region bound apart: SQLAlchemy reuses its cache key and compiled form.
_WITH_KEYS = (select(Partner, PartnerKey, VERSION.label("version"))
              .outerjoin(PartnerKey, (PartnerKey.region_code == Partner.region_code) & PartnerKey.revoked_at.is_(None))
              .where(Partner.region_code == bindparam("region")))


async def with_active_keys_versioned(session: AsyncSession, region_code: str
                                     ) -> tuple[Partner | None, list[PartnerKey], int | None]:
    """The partner, its unrevoked keys and the registry's version they are current at, in one
    round trip (every exchange in and out needs the first two)."""
    rows = (await session.execute(_WITH_KEYS, {"region": region_code})).all()
    if not rows:
        return None, [], None
    return rows[0][0], [key for _, key, _ in rows if key is not None], rows[0][2]


async def with_active_keys(session: AsyncSession, region_code: str) -> tuple[Partner | None, list[PartnerKey]]:
    """The partner and its unrevoked keys in one round trip."""
    partner, keys, _ = await with_active_keys_versioned(session, region_code)
    return partner, keys
