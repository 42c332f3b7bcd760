"""Keeping the local read copy of the catalogue current."""

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.catalog_copy import repository
from tongban.cases.catalog_copy.models import CatalogItem
from tongban.shared.contracts.catalog import ItemPublishedV1

_FIELDS = ("basic_code", "name", "item_type", "case_type", "promised_limit", "promised_limit_unit", "version")


async def apply_item_published(session: AsyncSession, data: ItemPublishedV1) -> None:
    """Insert the item, or take the newer version; an older version arriving late changes nothing."""
    current = await repository.get_for_update(session, data.item_id)
    if current is None:
        await repository.add(session, CatalogItem(item_id=data.item_id, applied_events=1,
                                                  **{f: getattr(data, f) for f in _FIELDS}))
        return
    current.applied_events += 1
    if data.version > current.version:
        for f in _FIELDS:
            setattr(current, f, getattr(data, f))
