"""Our cross-city items, kept current from svc-catalog's `catalog.item.*` events.

An item is cross-city when the event says so: a top-level `cross_city` field if the catalogue
contract has one, else the item's flags in the event's `record` (`flags.cross_city`, 深中通办).
Every item is kept, flagged or not, so a flag switched on later needs no replay.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.interop.discovery import repository
from tongban.interop.discovery.models import CrossCityItem
from tongban.shared.contracts.catalog import ItemPublishedV1, ItemRetiredV1


def cross_city_flag(data: dict[str, Any]) -> bool:
    """Read the cross-city flag from a `catalog.item.published` payload (tolerates either shape)."""
    if isinstance(data.get("cross_city"), bool):
        return data["cross_city"]
    record = data.get("record") or {}
    flags = record.get("flags") if isinstance(record, dict) else None
    return bool(isinstance(flags, dict) and flags.get("cross_city"))


async def apply_item_published(session: AsyncSession, raw: dict[str, Any]) -> None:
    """Insert the item or take a newer version; a late older version changes nothing."""
    data = ItemPublishedV1.model_validate(raw)
    fields = {"basic_code": data.basic_code, "name": data.name, "case_type": data.case_type, "version": data.version,
              "cross_city": cross_city_flag(raw), "retired": data.status == "retired"}
    current = await repository.get_for_update(session, data.item_id)
    if current is None:
        await repository.add(session, CrossCityItem(item_id=data.item_id, **fields))
    elif data.version >= current.version:
        for name, value in fields.items():
            setattr(current, name, value)


async def apply_item_retired(session: AsyncSession, raw: dict[str, Any]) -> None:
    """A retired item is no longer offered to partners (cases already forwarded carry on)."""
    data = ItemRetiredV1.model_validate(raw)
    current = await repository.get_for_update(session, data.item_id)
    if current is None:
        await repository.add(session, CrossCityItem(item_id=data.item_id, basic_code=data.basic_code, name=data.name,
                                                    case_type=None, version=data.version, cross_city=False,
                                                    retired=True))
    elif data.version >= current.version:
        current.retired = True
