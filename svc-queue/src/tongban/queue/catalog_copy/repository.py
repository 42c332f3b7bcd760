import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.queue.catalog_copy.models import CatalogItem


async def get_for_update(session: AsyncSession, item_id: uuid.UUID) -> CatalogItem | None:
    """The copy of one item, locked for the event being applied."""
    return (await session.execute(
        select(CatalogItem).where(CatalogItem.item_id == item_id).with_for_update())).scalar_one_or_none()


async def add(session: AsyncSession, item: CatalogItem) -> None:
    """Insert a copied item."""
    session.add(item)
    await session.flush()


async def known_codes(session: AsyncSession, codes: set[str]) -> set[str]:
    """Which of `codes` are items of the catalogue."""
    if not codes:
        return set()
    return set((await session.execute(select(CatalogItem.basic_code).where(CatalogItem.basic_code.in_(codes))))
               .scalars())
