import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.catalog.item.models import Item


async def get(session: AsyncSession, item_id: uuid.UUID) -> Item | None:
    return await session.get(Item, item_id)


async def get_by_code(session: AsyncSession, basic_code: str) -> Item | None:
    return (await session.execute(select(Item).where(Item.basic_code == basic_code))).scalar_one_or_none()


def list_query(item_type: str | None = None, q: str | None = None) -> Select[tuple[Item]]:
    """Items ordered by basic code; optionally one item type or a name fragment."""
    stmt = select(Item).order_by(Item.basic_code, Item.id)
    if item_type:
        stmt = stmt.where(Item.basic_code.like(f"__{item_type}%"))
    if q:
        stmt = stmt.where(Item.name.contains(q, autoescape=True))
    return stmt


async def add(session: AsyncSession, item: Item) -> Item:
    session.add(item)
    await session.flush()
    await session.refresh(item)
    return item
