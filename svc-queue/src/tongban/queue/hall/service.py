"""Hall rules: opening hours on working days, closures (which cancel bookings), categories."""

import datetime as dt
import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.queue import clock
from tongban.queue.config import Settings
from tongban.queue.db import audit
from tongban.queue.hall import calendar, repository
from tongban.queue.hall.errors import CategoryTaken, HallNotFound
from tongban.queue.hall.models import CalendarOverride, Hall, HallCategory, HallClosure
from tongban.queue.hall.schemas import (
    CalendarOverrideCreate, CategoryCreate, ClosureCreate, HallCreate, HallRead, HallUpdate,
)
from tongban.shared.auth import Principal


async def get_hall(session: AsyncSession, hall_id: uuid.UUID) -> Hall:
    """The hall, or HallNotFound."""
    hall = await repository.get(session, hall_id)
    if hall is None:
        raise HallNotFound()
    return hall


async def read(session: AsyncSession, halls: list[Hall]) -> list[HallRead]:
    """Halls with their categories, as the API shows them."""
    cats = await repository.categories(session, [h.id for h in halls])
    return [HallRead.model_validate(h).model_copy(update={"categories": cats[h.id]}) for h in halls]


def _hours_json(hours: dict) -> dict[str, dict[str, str]]:
    return {str(d): {"opens": h.opens.isoformat(), "closes": h.closes.isoformat()} for d, h in sorted(hours.items())}


async def create_hall(session: AsyncSession, data: HallCreate, actor: Principal,
                      hall_id: uuid.UUID | None = None) -> Hall:
    """Create a hall with its ticket categories (`hall_id`: a known id, for demo data that clerks'
    accounts already name)."""
    hall = Hall(id=hall_id or uuid.uuid4(), name=data.name, region_code=data.region_code, address=data.address, latitude=data.latitude,
                longitude=data.longitude, opening_hours=_hours_json(data.opening_hours),
                open_on_rest_days=data.open_on_rest_days, created_by=actor.sub)
    await repository.add(session, hall)
    for c in data.categories:
        await repository.add(session, HallCategory(hall_id=hall.id, code=c.code, name=c.name))
    await audit.record(session, actor, "hall.created", "hall", str(hall.id), detail={"name": hall.name})
    return hall


async def update_hall(session: AsyncSession, hall_id: uuid.UUID, data: HallUpdate, actor: Principal) -> Hall:
    """Change a hall's name, address, position or hours."""
    hall = await get_hall(session, hall_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if data.opening_hours is not None:
        changes["opening_hours"] = _hours_json(data.opening_hours)
    for k, v in changes.items():
        setattr(hall, k, v)
    await session.flush()
    await audit.record(session, actor, "hall.updated", "hall", str(hall.id), detail={"fields": sorted(changes)})
    return hall


async def add_category(session: AsyncSession, hall_id: uuid.UUID, data: CategoryCreate,
                       actor: Principal) -> HallCategory:
    """Add a ticket category (number prefix) to a hall."""
    await get_hall(session, hall_id)
    if await repository.get_category(session, hall_id, data.code) is not None:
        raise CategoryTaken(f"category {data.code} exists in this hall")
    category = HallCategory(hall_id=hall_id, code=data.code, name=data.name)
    try:
        async with session.begin_nested():
            await repository.add(session, category)
    except IntegrityError as exc:
        raise CategoryTaken(f"category {data.code} exists in this hall") from exc
    await audit.record(session, actor, "hall.category_added", "hall", str(hall_id), detail={"code": data.code})
    return category


def hours_on(hall: Hall, day: dt.date, working: bool = True) -> tuple[dt.time, dt.time] | None:
    """The hall's hours on `day`. A make-up working weekend day without its own hours takes
    Monday's (that is the timetable such a day replaces); a rest day has only its weekday's own."""
    hours = hall.opening_hours.get(str(day.isoweekday()))
    if hours is None and working and day.isoweekday() >= 6:
        hours = hall.opening_hours.get("1")
    return (dt.time.fromisoformat(hours["opens"]), dt.time.fromisoformat(hours["closes"])) if hours else None


async def open_between(session: AsyncSession, settings: Settings, hall: Hall,
                       day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
    """The hall's opening interval on `day` (local), or None when it does not open that day."""
    working = await calendar.is_working_day(session, day)
    if not working and not hall.open_on_rest_days:
        return None
    hours = hours_on(hall, day, working)
    if hours is None:
        return None
    return clock.at_local(settings, day, hours[0]), clock.at_local(settings, day, hours[1])


async def open_state(session: AsyncSession, settings: Settings, hall: Hall,
                     at: dt.datetime | None = None) -> tuple[bool, str]:
    """(open now, why not): working day, opening hours and closures all considered."""
    at = at or clock.now()
    day = clock.local(settings, at).date()
    interval = await open_between(session, settings, hall, day)
    if interval is None:
        return False, f"{day.isoformat()} is not a working day of this hall"
    if not interval[0] <= at < interval[1]:
        return False, "outside opening hours"
    if await repository.closures_overlapping(session, hall.id, at, at + dt.timedelta(microseconds=1)):
        return False, "closed"
    return True, "open"


async def add_closure(session: AsyncSession, hall_id: uuid.UUID, data: ClosureCreate,
                      actor: Principal) -> HallClosure:
    """Record a closure of the hall (what it cancels is `flows.close_hall`'s business)."""
    await get_hall(session, hall_id)
    closure = HallClosure(hall_id=hall_id, starts_at=data.starts_at, ends_at=data.ends_at, reason=data.reason,
                          created_by=actor.sub)
    await repository.add(session, closure)
    return closure


async def set_override(session: AsyncSession, data: CalendarOverrideCreate, actor: Principal) -> CalendarOverride:
    """Declare a date a working day or not, overriding chinese-calendar."""
    override = await repository.upsert_override(session, {**data.model_dump(), "created_by": actor.sub})
    await audit.record(session, actor, "calendar.overridden", "calendar_override", data.day.isoformat(),
                       reason=data.reason, detail={"is_working_day": data.is_working_day})
    return override
