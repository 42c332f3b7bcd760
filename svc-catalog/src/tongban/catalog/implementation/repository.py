import uuid
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.catalog.implementation.models import Implementation


async def get(session: AsyncSession, implementation_id: uuid.UUID) -> Implementation | None:
    return await session.get(Implementation, implementation_id)


async def get_for_update(session: AsyncSession, implementation_id: uuid.UUID) -> Implementation | None:
    """Locked until the transaction ends; re-read even if the session holds it (its version counts)."""
    return (await session.execute(select(Implementation).where(Implementation.id == implementation_id)
                                  .with_for_update().execution_options(populate_existing=True))).scalar_one_or_none()


async def flush(session: AsyncSession, impl: Implementation) -> Implementation:
    await session.flush()
    await session.refresh(impl)
    return impl


async def find(session: AsyncSession, basic_code: str, city_code: str) -> Implementation | None:
    return (await session.execute(select(Implementation).where(
        Implementation.basic_code == basic_code, Implementation.city_code == city_code))).scalar_one_or_none()


async def code_taken(session: AsyncSession, code: str) -> bool:
    return (await session.execute(select(Implementation.id).where(Implementation.code == code))).first() is not None


async def search_inputs(session: AsyncSession, item_id: uuid.UUID) -> list[Implementation]:
    """An item's implementations (what its search keys draw on)."""
    return list((await session.execute(select(Implementation).where(Implementation.item_id == item_id))).scalars())


def list_query(city_code: str | None = None, basic_code: str | None = None) -> Select[tuple[Implementation]]:
    stmt = select(Implementation).order_by(Implementation.basic_code, Implementation.city_code, Implementation.id)
    if city_code:
        stmt = stmt.where(Implementation.city_code == city_code)
    if basic_code:
        stmt = stmt.where(Implementation.basic_code == basic_code)
    return stmt


async def pairs(session: AsyncSession, city_a: str, city_b: str) -> list[tuple[Implementation, Implementation]]:
    """Every item both cities implement, as (city A's, city B's), by basic code."""
    rows = (await session.execute(select(Implementation).where(Implementation.city_code.in_([city_a, city_b]))
                                  .order_by(Implementation.basic_code))).scalars().all()
    by_code: dict[str, dict[str, Implementation]] = {}
    for impl in rows:
        by_code.setdefault(impl.basic_code, {})[impl.city_code] = impl
    return [(v[city_a], v[city_b]) for _, v in sorted(by_code.items()) if city_a in v and city_b in v]


async def add(session: AsyncSession, impl: Implementation) -> Implementation:
    session.add(impl)
    await session.flush()
    await session.refresh(impl)
    return impl


async def statistics(session: AsyncSession, city_code: str, flag_names: list[str]) -> dict[str, Any]:
    """One city's implementations: how many, and how many carry each flag."""
    counts = [func.count().filter(Implementation.flags[name].as_boolean()).label(name) for name in flag_names]
    row = (await session.execute(select(func.count().label("total"), *counts)
                                 .where(Implementation.city_code == city_code))).one()._mapping
    return dict(row)
