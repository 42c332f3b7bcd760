from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.item_config.models import ItemConfig


async def get(session: AsyncSession, basic_code: str, for_update: bool = False) -> ItemConfig | None:
    stmt = select(ItemConfig).where(ItemConfig.basic_code == basic_code)
    return (await session.execute(stmt.with_for_update() if for_update else stmt)).scalar_one_or_none()


async def add(session: AsyncSession, row: ItemConfig) -> None:
    session.add(row)
    await session.flush()


def list_query() -> Select[tuple[ItemConfig]]:
    return select(ItemConfig).order_by(ItemConfig.basic_code)
