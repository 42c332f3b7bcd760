import datetime as dt

from sqlalchemy import Select, delete, func, insert, literal_column, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from tongban.cases.workday.models import CalendarYear, OfficialDay, WorkdayOverride

def days_json(start: dt.date | ColumnElement[dt.date]) -> ColumnElement[dict]:
    """One JSON object of every known day from `start` on: the official schedules' days, with the
    admins' overrides on top (jsonb `||`: the right side wins). One column, so the 秒批 path reads
    the whole calendar in the round trip that reads the item."""
    official = (select(func.jsonb_object_agg(OfficialDay.on_date, OfficialDay.is_workday))
                .where(OfficialDay.on_date >= start).scalar_subquery())
    overrides = (select(func.jsonb_object_agg(WorkdayOverride.on_date, WorkdayOverride.is_workday))
                 .where(WorkdayOverride.on_date >= start).scalar_subquery())
    empty = literal_column("'{}'::jsonb", JSONB)
    return func.coalesce(official, empty).op("||", return_type=JSONB)(func.coalesce(overrides, empty))


def parse_days(found: dict[str, bool] | None) -> dict[dt.date, bool]:
    return {dt.date.fromisoformat(d): bool(w) for d, w in (found or {}).items()}


async def overrides_from(session: AsyncSession, start: dt.date) -> dict[dt.date, bool]:
    """Every known day on or after `start`: official schedules' days, overridden by the admins'
    (a small set: a few hundred rows a year)."""
    return parse_days((await session.execute(select(days_json(start)))).scalar_one())


async def get(session: AsyncSession, day: dt.date) -> WorkdayOverride | None:
    return await session.get(WorkdayOverride, day)


async def add(session: AsyncSession, row: WorkdayOverride) -> None:
    session.add(row)
    await session.flush()


async def delete_override(session: AsyncSession, row: WorkdayOverride) -> None:
    await session.delete(row)
    await session.flush()


def list_query(start: dt.date | None) -> Select[tuple[WorkdayOverride]]:
    stmt = select(WorkdayOverride).order_by(WorkdayOverride.on_date)
    return stmt.where(WorkdayOverride.on_date >= start) if start else stmt


# --- official schedules --------------------------------------------------------------------------

async def get_year(session: AsyncSession, year: int, lock: bool = False) -> CalendarYear | None:
    return await session.get(CalendarYear, year, with_for_update=lock)


def years_query() -> Select[tuple[CalendarYear]]:
    return select(CalendarYear).order_by(CalendarYear.year)


async def known_years(session: AsyncSession) -> set[int]:
    return set((await session.execute(select(CalendarYear.year))).scalars())


async def replace_days(session: AsyncSession, year: int, days: dict[dt.date, bool]) -> None:
    """The year's expanded days, replacing what an earlier import of it stored."""
    await session.execute(delete(OfficialDay).where(OfficialDay.year == year))
    await session.execute(insert(OfficialDay), [{"on_date": d, "year": year, "is_workday": w} for d, w in days.items()])


async def add_year(session: AsyncSession, row: CalendarYear) -> None:
    session.add(row)
    await session.flush()


async def pending_recompute(session: AsyncSession) -> list[CalendarYear]:
    """Imported years whose open cases' deadlines are not recomputed yet."""
    stmt = select(CalendarYear).where(CalendarYear.recomputed_revision.is_distinct_from(CalendarYear.revision))
    return list((await session.execute(stmt.order_by(CalendarYear.year))).scalars())


async def mark_recomputed(session: AsyncSession, year: int, revision: int) -> None:
    """Done for `revision` (a newer import made meanwhile stays pending)."""
    await session.execute(update(CalendarYear).where(CalendarYear.year == year, CalendarYear.revision == revision)
                          .values(recomputed_revision=revision))
