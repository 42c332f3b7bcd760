import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.interop.discovery.models import CrossCityItem


async def get_for_update(session: AsyncSession, item_id: uuid.UUID) -> CrossCityItem | None:
    return (await session.execute(
        select(CrossCityItem).where(CrossCityItem.item_id == item_id).with_for_update())).scalar_one_or_none()


async def add(session: AsyncSession, item: CrossCityItem) -> None:
    session.add(item)
    await session.flush()


async def is_offered(session: AsyncSession, basic_code: str) -> bool:
    """Whether we offer this item across cities (flagged and not retired)."""
    row = (await session.execute(select(CrossCityItem.item_id).where(
        CrossCityItem.basic_code == basic_code, CrossCityItem.cross_city.is_(True),
        CrossCityItem.retired.is_(False)).limit(1))).first()
    return row is not None


def offered_query(granted: list[str]) -> Select[tuple[CrossCityItem]]:
    """Cross-city items a partner may see: all of them with "*", else those it was granted."""
    stmt = select(CrossCityItem).where(CrossCityItem.cross_city.is_(True), CrossCityItem.retired.is_(False))
    if "*" not in granted:
        stmt = stmt.where(CrossCityItem.basic_code.in_(granted))
    return stmt.order_by(CrossCityItem.basic_code, CrossCityItem.item_id)
