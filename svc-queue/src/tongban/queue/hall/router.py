import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from tongban.queue import flows
from tongban.queue.clock import SettingsDep
from tongban.queue.hall import calendar, repository, service
from tongban.queue.hall.errors import CategoryTaken, HallNotFound
from tongban.queue.hall.schemas import (
    CalendarOverrideCreate, CalendarOverrideRead, CategoryCreate, CategoryRead, ClosureCreate, ClosureRead,
    DayRead, HallCreate, HallRead, HallUpdate,
)
from tongban.queue.policy import ERRORS as AUTH_ERRORS, Caller, Public
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, page_of, paginate

router = APIRouter(tags=["halls"])
QueueAdmin = Caller("hall.manage")


@router.post("/halls", status_code=201, response_model=HallRead,
             responses=responses(*AUTH_ERRORS, IdempotencyKeyReused))
async def create_hall(body: HallCreate, session: SessionDep, actor: QueueAdmin, idem: IdempotencyDep):
    """Create a hall with its opening hours and ticket categories (admins)."""
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    hall = await service.create_hall(session, body, actor)
    return await idem.remember(session, 201, (await service.read(session, [hall]))[0])


@router.get("/halls", summary="办事大厅列表", dependencies=[Public("hall.read")], response_model=Page[HallRead])
async def list_halls(session: SessionDep, page: PageDep,
                     region_code: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None) -> Page[HallRead]:
    """Browse the halls (public)."""
    raw = await paginate(session, repository.list_query(region_code), page)
    return page_of(await service.read(session, raw.items), raw.total, page)


@router.get("/halls/{hall_id}", summary="办事大厅详情", dependencies=[Public("hall.read")],
            response_model=HallRead, responses=responses(HallNotFound))
async def get_hall(hall_id: uuid.UUID, session: SessionDep) -> HallRead:
    """One hall (public)."""
    return (await service.read(session, [await service.get_hall(session, hall_id)]))[0]


@router.patch("/halls/{hall_id}", response_model=HallRead, responses=responses(*AUTH_ERRORS, HallNotFound))
async def update_hall(hall_id: uuid.UUID, body: HallUpdate, session: SessionDep, actor: QueueAdmin) -> HallRead:
    """Change a hall's name, address, position or opening hours (admins)."""
    hall = await service.update_hall(session, hall_id, body, actor)
    return (await service.read(session, [hall]))[0]


@router.post("/halls/{hall_id}/categories", status_code=201, response_model=CategoryRead,
             responses=responses(*AUTH_ERRORS, HallNotFound, CategoryTaken, IdempotencyKeyReused))
async def add_category(hall_id: uuid.UUID, body: CategoryCreate, session: SessionDep, actor: QueueAdmin,
                       idem: IdempotencyDep):
    """Add a ticket category to a hall (admins)."""
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    category = await service.add_category(session, hall_id, body, actor)
    return await idem.remember(session, 201, CategoryRead.model_validate(category))


@router.post("/halls/{hall_id}/closures", status_code=201, response_model=ClosureRead,
             responses=responses(*AUTH_ERRORS, HallNotFound, IdempotencyKeyReused))
async def close_hall(hall_id: uuid.UUID, body: ClosureCreate, session: SessionDep, actor: QueueAdmin,
                     settings: SettingsDep, idem: IdempotencyDep):
    """Close a hall for a period (admins): its bookings in the period are cancelled and the people
    told; a closure that has begun also cancels today's waiting tickets."""
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    closure, cancelled, tickets_cancelled = await flows.close_hall(session, settings, hall_id, body, actor)
    read = ClosureRead.model_validate(closure).model_copy(update={"cancelled_appointments": cancelled,
                                                                  "cancelled_tickets": tickets_cancelled})
    return await idem.remember(session, 201, read)


@router.get("/halls/{hall_id}/closures", dependencies=[Public("hall.read")],
            response_model=Page[ClosureRead], responses=responses(HallNotFound))
async def list_closures(hall_id: uuid.UUID, session: SessionDep, page: PageDep) -> Page[ClosureRead]:
    """A hall's closures, latest first (public)."""
    await service.get_hall(session, hall_id)
    return await paginate(session, repository.closures_query(hall_id), page, ClosureRead.model_validate)


@router.post("/calendar-overrides", status_code=201, response_model=CalendarOverrideRead,
             responses=responses(*AUTH_ERRORS, IdempotencyKeyReused))
async def set_override(body: CalendarOverrideCreate, session: SessionDep, actor: QueueAdmin, idem: IdempotencyDep):
    """Declare a date a working day or a rest day, over chinese-calendar (admins). Needed for every
    date of a year the calendar package does not know yet."""
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    override = await service.set_override(session, body, actor)
    return await idem.remember(session, 201, CalendarOverrideRead.model_validate(override))


@router.get("/calendar-overrides", dependencies=[Public("hall.read")], response_model=Page[CalendarOverrideRead])
async def list_overrides(session: SessionDep, page: PageDep) -> Page[CalendarOverrideRead]:
    """The overrides, by date (public)."""
    return await paginate(session, repository.overrides_query(), page, CalendarOverrideRead.model_validate)


@router.get("/calendar/{day}", dependencies=[Public("hall.read")],
            response_model=DayRead)
async def get_day(day: dt.date, session: SessionDep) -> DayRead:
    """Is this date a working day, and who says so (public): `estimate` for a year whose official
    schedule is not imported yet (provisional)."""
    working, source = await calendar.working_day(session, day)
    return DayRead(day=day, is_working_day=working, source=source, provisional=source == "estimate")
