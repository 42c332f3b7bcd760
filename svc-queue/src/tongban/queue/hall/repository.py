import datetime as dt
import uuid

from sqlalchemy import Select, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.queue.hall.models import CalendarOverride, Hall, HallCategory, HallClosure, OfficialDay


async def get(session: AsyncSession, hall_id: uuid.UUID) -> Hall | None:
    """One hall by id."""
    return await session.get(Hall, hall_id)


async def add(session: AsyncSession, obj: object) -> None:
    """Stage a new row and flush it (so server defaults and constraints apply now)."""
    session.add(obj)
    await session.flush()


def list_query(region_code: str | None = None) -> Select[tuple[Hall]]:
    """Halls by name; optionally one region."""
    stmt = select(Hall).order_by(Hall.name, Hall.id)
    return stmt.where(Hall.region_code == region_code) if region_code else stmt


async def all_halls(session: AsyncSession) -> list[Hall]:
    """Every hall (a city has tens, not thousands)."""
    return list((await session.execute(select(Hall))).scalars())


async def categories(session: AsyncSession, hall_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[HallCategory]]:
    """The ticket categories of the given halls."""
    rows = (await session.execute(select(HallCategory).where(HallCategory.hall_id.in_(hall_ids))
                                  .order_by(HallCategory.code))).scalars()
    out: dict[uuid.UUID, list[HallCategory]] = {h: [] for h in hall_ids}
    for c in rows:
        out[c.hall_id].append(c)
    return out


async def get_category(session: AsyncSession, hall_id: uuid.UUID, code: str) -> HallCategory | None:
    """One category of a hall."""
    return await session.get(HallCategory, (hall_id, code))


async def closures_overlapping(session: AsyncSession, hall_id: uuid.UUID, start: dt.datetime,
                               end: dt.datetime) -> list[HallClosure]:
    """Closures of the hall that overlap [start, end)."""
    return list((await session.execute(select(HallClosure).where(
        HallClosure.hall_id == hall_id, HallClosure.starts_at < end, HallClosure.ends_at > start))).scalars())


def closures_query(hall_id: uuid.UUID) -> Select[tuple[HallClosure]]:
    """A hall's closures, latest first."""
    return select(HallClosure).where(HallClosure.hall_id == hall_id).order_by(HallClosure.starts_at.desc(),
                                                                              HallClosure.id)


async def get_override(session: AsyncSession, day: dt.date) -> CalendarOverride | None:
    """The admin's override for one date, if any."""
    return await session.get(CalendarOverride, day)


async def upsert_override(session: AsyncSession, values: dict) -> CalendarOverride:
    """Insert or replace the override for a date."""
    stmt = insert(CalendarOverride).values(**values)
    stmt = stmt.on_conflict_do_update(index_elements=["day"], set_={
        "is_working_day": stmt.excluded.is_working_day, "reason": stmt.excluded.reason,
        "created_by": stmt.excluded.created_by})
    await session.execute(stmt)
    override = await session.get(CalendarOverride, values["day"], populate_existing=True)
    assert override is not None
    return override


def overrides_query() -> Select[tuple[CalendarOverride]]:
    return select(CalendarOverride).order_by(CalendarOverride.day)


async def official_day(session: AsyncSession, day: dt.date) -> tuple[bool | None, bool]:
    """(the official schedule's word on `day` or None, whether `day`'s year has an imported schedule)."""
    row = await session.get(OfficialDay, day)
    if row is not None:
        return row.is_working_day, True
    known = (await session.execute(select(OfficialDay.day).where(OfficialDay.year == day.year).limit(1))).first()
    return None, known is not None


async def official_revision(session: AsyncSession, year: int) -> int | None:
    return (await session.execute(select(func.max(OfficialDay.revision)).where(OfficialDay.year == year))).scalar()


async def replace_official_year(session: AsyncSession, year: int, revision: int, days: dict[dt.date, bool]) -> None:
    await session.execute(delete(OfficialDay).where(OfficialDay.year == year))
    await session.execute(insert(OfficialDay), [{"day": d, "year": year, "is_working_day": w, "revision": revision}
                                                for d, w in days.items()])
