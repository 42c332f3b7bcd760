import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.catalog_copy.models import CatalogItem


async def get_for_update(session: AsyncSession, item_id: uuid.UUID) -> CatalogItem | None:
    return (await session.execute(
        select(CatalogItem).where(CatalogItem.item_id == item_id).with_for_update())).scalar_one_or_none()


async def add(session: AsyncSession, item: CatalogItem) -> None:
    session.add(item)
    await session.flush()


def list_query() -> Select[tuple[CatalogItem]]:
    return select(CatalogItem).order_by(CatalogItem.basic_code, CatalogItem.item_id)
