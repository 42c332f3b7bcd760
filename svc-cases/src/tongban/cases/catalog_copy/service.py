"""Keeping the local read copy of the catalogue current."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.catalog_copy import repository
from tongban.cases.catalog_copy.models import CatalogImplementation, CatalogItem
from tongban.shared.contracts.catalog import ImplementationPublishedV1, ItemPublishedV1, ItemRetiredV1

_FIELDS = ("basic_code", "name", "item_type", "case_type", "promised_limit", "promised_limit_unit", "version")


async def apply_item_published(session: AsyncSession, data: ItemPublishedV1) -> None:
    """Insert the item, or take the newer version; an older version arriving late changes nothing."""
    current = await repository.get_for_update(session, data.item_id)
    values = {f: getattr(data, f) for f in _FIELDS} | _from_record(data.record)
    values["status"] = data.status or "published"
    if current is None:
        await repository.add(session, CatalogItem(item_id=data.item_id, applied_events=1, **values))
        return
    current.applied_events += 1
    if data.version > current.version:
        for f, v in values.items():
            setattr(current, f, v)


async def apply_item_retired(session: AsyncSession, data: ItemRetiredV1) -> None:
    """No new applications for a retired item; an unknown item is remembered as retired."""
    current = await repository.get_for_update(session, data.item_id)
    if current is None:
        await repository.add(session, CatalogItem(
            item_id=data.item_id, basic_code=data.basic_code, name=data.name, item_type="", case_type="",
            version=data.version, applied_events=1, status="retired", **_from_record(data.record)))
        return
    current.applied_events += 1
    if data.version >= current.version:
        current.status, current.version = "retired", data.version


async def apply_implementation_published(session: AsyncSession, data: ImplementationPublishedV1) -> None:
    """Insert the city's implementation, or take a newer version."""
    current = await repository.implementation_for_update(session, data.implementation_id)
    record = data.record or {}
    values = {"code": data.code, "basic_code": data.basic_code, "city_code": data.city_code, "version": data.version,
              "department": _from_record(record)["department"] or data.code[:18],
              "materials": materials_of(record), "fees": fees_of(record)}
    if current is None:
        await repository.add(session, CatalogImplementation(implementation_id=data.implementation_id, **values))
    elif data.version > current.version:
        for f, v in values.items():
            setattr(current, f, v)


def materials_of(record: dict | None) -> list[dict[str, Any]] | None:
    """The material list a catalogue record carries, None when it carries none (older events)."""
    materials = (record or {}).get("materials")
    if not isinstance(materials, list):
        return None
    return [m for m in materials if isinstance(m, dict) and isinstance(m.get("name"), str)]


def fees_of(record: dict | None) -> list[dict[str, Any]] | None:
    """The fees a catalogue record carries ({name, amount, basis}), None when it carries none."""
    fees = (record or {}).get("fees")
    if not isinstance(fees, list):
        return None
    return [f for f in fees if isinstance(f, dict) and isinstance(f.get("name"), str)
            and isinstance(f.get("amount"), (str, int, float))]


def _from_record(record: dict | None) -> dict:
    record = record or {}
    dept, licence = record.get("implementing_body_credit_code"), record.get("result_licence_type")
    return {"department": dept if isinstance(dept, str) and len(dept) == 18 else None,
            "result_licence_type": licence if isinstance(licence, str) and len(licence) <= 40 else None,
            "materials": materials_of(record)}
