"""Item rules: the lifecycle draft → published → retired, a new version on every republish, and
each published version written with its audit record and its event in one transaction."""

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from tongban.catalog.db import audit, outbox
from tongban.catalog.elements import FLAG_NAMES
from tongban.catalog.implementation import repository as implementation_repository
from tongban.catalog.item import repository
from tongban.catalog.item.errors import BasicCodeTaken, ItemNotFound, WrongItemStatus
from tongban.catalog.item.models import Item, ItemVersion
from tongban.catalog.item.schemas import ItemCreate, ItemElements, ItemRead, ItemUpdate
from tongban.catalog.search.text import initials, pinyin_keys, title_keys, tokens
from tongban.shared import clock
from tongban.shared.auth import Principal
from tongban.shared.contracts.catalog import ITEM_PUBLISHED, ITEM_RETIRED, ItemPublishedV1, ItemRetiredV1
from tongban.shared.events.envelope import make_event

_ELEMENTS = set(ItemElements.model_fields)


def record(item: Item) -> dict[str, Any]:
    """The item as its API shows it, in JSON: what events and version snapshots carry."""
    return ItemRead.model_validate(item).model_dump(mode="json")


def _apply(item: Item, data: ItemCreate | ItemUpdate) -> None:
    values = data.model_dump(mode="json", include=_ELEMENTS | {"name", "exercise_level", "case_type"})
    for key, value in values.items():
        setattr(item, key, value)


async def reindex(session: AsyncSession, item: Item) -> None:
    """Recompute the item's search keys: its own texts plus its implementations' cities,
    implementing bodies and materials (so a search for a department finds what it runs)."""
    impls = await implementation_repository.search_inputs(session, item.id)
    item.cities = sorted({i.city_code for i in impls})
    item.departments = sorted({d for d in [item.implementing_body, *(i.implementing_body for i in impls)] if d})
    materials = [m["name"] for m in item.materials] + [m["name"] for i in impls for m in i.materials]
    title = [item.name, *item.aliases]
    item.search_tokens = sorted({*tokens([*title, *item.departments, *materials, item.basic_code]),
                                 *pinyin_keys(title)})
    item.title_tokens = title_keys(title)
    item.initials = initials([item.name, *item.aliases])


async def _announce(session: AsyncSession, item: Item, actor: Principal, reason: str | None) -> None:
    snapshot = record(item)
    await repository.add_version(session, ItemVersion(item_id=item.id, version=item.version, record=snapshot,
                                                      reason=reason, published_by=actor.sub))
    payload = ItemPublishedV1(
        item_id=item.id, basic_code=item.basic_code, name=item.name, item_type=item.item_type,
        version=item.version, case_type=item.case_type, promised_limit=item.promised_limit,
        promised_limit_unit=item.promised_limit_unit, status=item.status, exercise_level=item.exercise_level,
        statutory_limit=item.statutory_limit, statutory_limit_unit=item.statutory_limit_unit, record=snapshot)
    await outbox.add(session, make_event("catalog", ITEM_PUBLISHED, payload, subject=str(item.id)))


async def publish_item(session: AsyncSession, data: ItemCreate, actor: Principal) -> Item:
    """Create a standard item; unless `publish` is false, publish it as version 1 and announce it
    as `catalog.item.published`. A draft is version 0 and announced only when published."""
    if await repository.get_by_code(session, data.basic_code) is not None:
        raise BasicCodeTaken(f"basic code {data.basic_code} is already in the catalogue")
    now = clock.now()
    item = Item(id=uuid.uuid4(), basic_code=data.basic_code, created_by=actor.sub, cities=[],
                status="published" if data.publish else "draft", version=1 if data.publish else 0,
                published_at=now if data.publish else None)
    _apply(item, data)
    await reindex(session, item)
    try:
        async with session.begin_nested():
            item = await repository.add(session, item)
    except IntegrityError as exc:  # a concurrent publish of the same code won the race
        raise BasicCodeTaken(f"basic code {data.basic_code} is already in the catalogue") from exc
    if data.publish:
        await _announce(session, item, actor, None)
    action = "item.published" if data.publish else "item.drafted"
    await audit.record(session, actor, action, "item", str(item.id), detail={"basic_code": item.basic_code})
    return item


async def _locked(session: AsyncSession, item_id: Any) -> Item:
    item = await repository.get_for_update(session, item_id)
    if item is None:
        raise ItemNotFound()
    return item


async def update_item(session: AsyncSession, item_id: Any, data: ItemUpdate, actor: Principal) -> Item:
    """Replace an item's elements. A draft stays a draft; a published item is republished as the
    next version and announced; a retired item must be published again first."""
    item = await _locked(session, item_id)
    if item.status == "retired":
        raise WrongItemStatus("a retired item is not edited; publish it again first")
    _apply(item, data)
    await reindex(session, item)
    if item.status == "published":
        item.version += 1
        item.published_at = clock.now()
    item = await repository.flush(session, item)
    if item.status == "published":
        await _announce(session, item, actor, data.reason)
    await audit.record(session, actor, "item.updated" if item.status == "draft" else "item.republished", "item",
                       str(item.id), reason=data.reason, detail={"version": item.version})
    return item


async def publish_existing(session: AsyncSession, item_id: Any, actor: Principal, reason: str | None) -> Item:
    """Publish a draft, or bring a retired item back, as its next version."""
    item = await _locked(session, item_id)
    if item.status == "published":
        raise WrongItemStatus(f"item {item.basic_code} is already published (version {item.version})")
    item.status, item.version = "published", item.version + 1
    item.published_at, item.retired_at = clock.now(), None
    item = await repository.flush(session, item)
    await _announce(session, item, actor, reason)
    await audit.record(session, actor, "item.published", "item", str(item.id), reason=reason,
                       detail={"basic_code": item.basic_code, "version": item.version})
    return item


async def retire_item(session: AsyncSession, item_id: Any, reason: str, actor: Principal) -> Item:
    """Retire a published item and announce `catalog.item.retired` with its full record."""
    item = await _locked(session, item_id)
    if item.status != "published":
        raise WrongItemStatus(f"only a published item is retired; this one is {item.status}")
    item.status, item.retired_at = "retired", clock.now()
    item = await repository.flush(session, item)
    payload = ItemRetiredV1(item_id=item.id, basic_code=item.basic_code, name=item.name, version=item.version,
                            reason=reason, retired_at=item.retired_at, record=record(item))
    await outbox.add(session, make_event("catalog", ITEM_RETIRED, payload, subject=str(item.id)))
    await audit.record(session, actor, "item.retired", "item", str(item.id), reason=reason,
                       detail={"basic_code": item.basic_code, "version": item.version})
    return item


async def statistics(session: AsyncSession, city_code: str | None = None) -> dict[str, Any]:
    """Counts per flag and the share fully online: over the published standard items, or over one
    city's implementations (the figure a city reports)."""
    if city_code:
        row = await implementation_repository.statistics(session, city_code, FLAG_NAMES)
    else:
        row = await repository.statistics(session)
    total = row.pop("total")
    return {"city_code": city_code, "total": total, "flags": row,
            "fully_online_share": round(row["fully_online"] / total, 4) if total else 0.0}
