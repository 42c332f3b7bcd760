import uuid
from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.catalog.elements import FLAG_NAMES
from tongban.catalog.item.models import Item, ItemVersion
from tongban.catalog.search import cache as search_cache


async def get(session: AsyncSession, item_id: uuid.UUID) -> Item | None:
    return await session.get(Item, item_id)


async def get_for_update(session: AsyncSession, item_id: uuid.UUID) -> Item | None:
    """The item, locked until the transaction ends (so two edits cannot both take version n+1)."""
    return (await session.execute(select(Item).where(Item.id == item_id).with_for_update())).scalar_one_or_none()


async def get_by_code(session: AsyncSession, basic_code: str) -> Item | None:
    return (await session.execute(select(Item).where(Item.basic_code == basic_code))).scalar_one_or_none()


async def by_codes(session: AsyncSession, codes: list[str]) -> dict[str, Item]:
    rows = (await session.execute(select(Item).where(Item.basic_code.in_(codes)))).scalars().all()
    return {i.basic_code: i for i in rows}


def list_query(item_type: str | None = None, q: str | None = None, status: str | None = "published") -> Select[tuple[Item]]:
    """Items ordered by basic code; optionally one item type, a name fragment, a status."""
    stmt = select(Item).order_by(Item.basic_code, Item.id)
    if status:
        stmt = stmt.where(Item.status == status)
    if item_type:
        stmt = stmt.where(Item.item_type == item_type)
    if q:
        stmt = stmt.where(Item.name.contains(q, autoescape=True))
    return stmt


def versions_query(item_id: uuid.UUID) -> Select[tuple[ItemVersion]]:
    return select(ItemVersion).where(ItemVersion.item_id == item_id).order_by(ItemVersion.version.desc())


async def add(session: AsyncSession, item: Item) -> Item:
    session.add(item)
    await session.flush()
    await search_cache.bump(session, item.id)
    await session.refresh(item)
    return item


async def flush(session: AsyncSession, item: Item) -> Item:
    await session.flush()
    await search_cache.bump(session, item.id)
    await session.refresh(item)
    return item


async def add_version(session: AsyncSession, version: ItemVersion) -> None:
    session.add(version)
    await session.flush()


async def statistics(session: AsyncSession) -> dict[str, Any]:
    """Published items: how many, and how many carry each flag."""
    counts = [func.count().filter(Item.flags[name].as_boolean()).label(name) for name in FLAG_NAMES]
    row = (await session.execute(select(func.count().label("total"), *counts)
                                 .where(Item.status == "published"))).one()._mapping
    return dict(row)


async def lock_catalogue(session: AsyncSession) -> None:
    """Serialise whole-catalogue writers (the demo seed) across processes."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('catalog.seed'))"))
