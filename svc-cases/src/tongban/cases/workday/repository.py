import datetime as dt

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.workday.models import WorkdayOverride


async def overrides_from(session: AsyncSession, start: dt.date) -> dict[dt.date, bool]:
    """Every override on or after `start` (a small table: a few dozen rows a year)."""
    rows = await session.execute(select(WorkdayOverride.on_date, WorkdayOverride.is_workday)
                                 .where(WorkdayOverride.on_date >= start))
    return {d: w for d, w in rows.all()}


async def get(session: AsyncSession, day: dt.date) -> WorkdayOverride | None:
    return await session.get(WorkdayOverride, day)


async def add(session: AsyncSession, row: WorkdayOverride) -> None:
    session.add(row)
    await session.flush()


async def delete(session: AsyncSession, row: WorkdayOverride) -> None:
    await session.delete(row)
    await session.flush()


def list_query(start: dt.date | None) -> Select[tuple[WorkdayOverride]]:
    stmt = select(WorkdayOverride).order_by(WorkdayOverride.on_date)
    return stmt.where(WorkdayOverride.on_date >= start) if start else stmt
