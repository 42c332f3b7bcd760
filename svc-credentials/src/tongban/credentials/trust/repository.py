import uuid

from sqlalchemy import Select, delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.credentials.trust.models import LicenceTypeMapping, TrustedKey, TrustedRegion


async def lock_region(session: AsyncSession, region_code: str, name: str, actor: str) -> tuple[TrustedRegion, bool]:
    """The region's row, created if new, locked until the transaction ends; (row, created)."""
    created = (await session.execute(insert(TrustedRegion).values(region_code=region_code, name=name,
                                                                   updated_by=actor)
                                     .on_conflict_do_nothing().returning(TrustedRegion.region_code))).first()
    region = (await session.execute(select(TrustedRegion).where(TrustedRegion.region_code == region_code)
                                    .with_for_update().execution_options(populate_existing=True))).scalar_one()
    return region, created is not None


async def keys_of(session: AsyncSession, region_codes: list[str]) -> list[TrustedKey]:
    return list((await session.execute(select(TrustedKey).where(TrustedKey.region_code.in_(region_codes))
                                       .order_by(TrustedKey.region_code, TrustedKey.created_at, TrustedKey.kid)))
                .scalars())


async def keys_by_kid(session: AsyncSession, kids: list[str]) -> dict[str, TrustedKey]:
    rows = (await session.execute(select(TrustedKey).where(TrustedKey.kid.in_(kids)))).scalars()
    return {k.kid: k for k in rows}


async def get_key(session: AsyncSession, kid: str) -> TrustedKey | None:
    return await session.get(TrustedKey, kid)


async def get_region(session: AsyncSession, region_code: str) -> TrustedRegion | None:
    return await session.get(TrustedRegion, region_code)


async def add(session: AsyncSession, *rows: TrustedKey | LicenceTypeMapping) -> None:
    session.add_all(rows)
    await session.flush()


def regions_query() -> Select[tuple[TrustedRegion]]:
    return select(TrustedRegion).order_by(TrustedRegion.region_code)


def mappings_query(region_code: str | None, our_type_code: str | None,
                   partner_type_code: str | None) -> Select[tuple[LicenceTypeMapping]]:
    stmt = select(LicenceTypeMapping)
    if region_code is not None:
        stmt = stmt.where(LicenceTypeMapping.region_code == region_code)
    if our_type_code is not None:
        stmt = stmt.where(LicenceTypeMapping.our_type_code == our_type_code)
    if partner_type_code is not None:
        stmt = stmt.where(LicenceTypeMapping.partner_type_code == partner_type_code)
    return stmt.order_by(LicenceTypeMapping.region_code, LicenceTypeMapping.partner_type_code,
                         LicenceTypeMapping.our_type_code)


async def find_mapping(session: AsyncSession, partner_type_code: str, our_type_code: str,
                       region_code: str | None) -> LicenceTypeMapping | None:
    return (await session.execute(mappings_query(region_code, our_type_code, partner_type_code).limit(1))
            ).scalar_one_or_none()


async def our_types_for(session: AsyncSession, region_code: str, partner_type_code: str) -> list[str]:
    return list((await session.execute(select(LicenceTypeMapping.our_type_code).where(
        LicenceTypeMapping.region_code == region_code, LicenceTypeMapping.partner_type_code == partner_type_code)
        .order_by(LicenceTypeMapping.our_type_code))).scalars())


async def delete_mapping(session: AsyncSession, mapping_id: uuid.UUID) -> LicenceTypeMapping | None:
    return (await session.execute(delete(LicenceTypeMapping).where(LicenceTypeMapping.id == mapping_id)
                                  .returning(LicenceTypeMapping))).scalar_one_or_none()
