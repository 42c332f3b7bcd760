"""Keeping svc-queue's read copy of the catalogue current."""

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.queue.catalog_copy import repository
from tongban.queue.catalog_copy.models import CatalogItem
from tongban.shared.contracts.catalog import ItemPublishedV1

_FIELDS = ("basic_code", "name", "item_type", "version")


async def apply_item_published(session: AsyncSession, data: ItemPublishedV1) -> None:
    """Insert the item, or take the newer version; an older version arriving late changes nothing."""
    current = await repository.get_for_update(session, data.item_id)
    if current is None:
        await repository.add(session, CatalogItem(item_id=data.item_id, **{f: getattr(data, f) for f in _FIELDS}))
    elif data.version > current.version:
        for f in _FIELDS:
            setattr(current, f, getattr(data, f))
