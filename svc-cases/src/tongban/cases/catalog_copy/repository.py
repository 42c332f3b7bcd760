import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.catalog_copy.models import CatalogImplementation, CatalogItem


async def get_for_update(session: AsyncSession, item_id: uuid.UUID) -> CatalogItem | None:
    return (await session.execute(
        select(CatalogItem).where(CatalogItem.item_id == item_id).with_for_update())).scalar_one_or_none()


async def add(session: AsyncSession, item: CatalogItem | CatalogImplementation) -> None:
    session.add(item)
    await session.flush()


def list_query() -> Select[tuple[CatalogItem]]:
    return select(CatalogItem).order_by(CatalogItem.basic_code, CatalogItem.item_id)


async def by_basic_code(session: AsyncSession, basic_code: str) -> CatalogItem | None:
    """The newest-version copy of the item with this basic code."""
    return (await session.execute(select(CatalogItem).where(CatalogItem.basic_code == basic_code)
                                  .order_by(CatalogItem.version.desc()).limit(1))).scalar_one_or_none()


async def implementation_for_update(session: AsyncSession, implementation_id: uuid.UUID) -> CatalogImplementation | None:
    return (await session.execute(select(CatalogImplementation).where(
        CatalogImplementation.implementation_id == implementation_id).with_for_update())).scalar_one_or_none()


async def implementation(session: AsyncSession, code: str | None, basic_code: str,
                         city_code: str) -> CatalogImplementation | None:
    """The implementation a case names by code, else the city's implementation of the item."""
    where = (CatalogImplementation.code == code if code else
             (CatalogImplementation.basic_code == basic_code) & (CatalogImplementation.city_code == city_code))
    return (await session.execute(select(CatalogImplementation).where(where)
                                  .order_by(CatalogImplementation.version.desc()).limit(1))).scalar_one_or_none()


async def offered_anywhere(session: AsyncSession, basic_code: str) -> bool:
    """Whether the read copy holds any city's implementation of the item."""
    stmt = select(CatalogImplementation.code).where(CatalogImplementation.basic_code == basic_code).limit(1)
    return (await session.execute(stmt)).first() is not None
