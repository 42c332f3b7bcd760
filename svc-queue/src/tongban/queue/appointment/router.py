import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from tongban.queue import clock
from tongban.queue.appointment import repository, service
from tongban.queue.appointment.errors import (
    AlreadyBooked, AppointmentClosed, AppointmentNotFound, BookingSuspended, HoldExpired, NotCheckInTime, SlotFull,
    SlotTemplateNotFound,
)
from tongban.queue.appointment.schemas import (
    AppointmentCreate, AppointmentRead, CheckInRead, SlotRead, SlotTemplateCreate, SlotTemplateRead, SweepRead,
)
from tongban.queue.clock import SettingsDep
from tongban.queue.counter.errors import NotYourHall
from tongban.queue.hall.errors import CategoryNotFound, HallNotFound
from tongban.queue.hall.service import get_hall
from tongban.queue.ticket import service as tickets
from tongban.queue.policy import ERRORS as AUTH_ERRORS, POLICY, Can, Caller, Public
from tongban.shared.auth import NotOwner, Principal
from tongban.shared.policy import Access, Target, admit
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.ids import mask_resident_id
from tongban.shared.pagination import Page, PageDep, page_of, paginate

router = APIRouter(tags=["appointments"])
QueueAdmin = Caller("hall.manage")
Booker = Can("appointment.book")
Changer = Caller("appointment.change")
BOOKING_ERRORS = (*AUTH_ERRORS, SlotTemplateNotFound, SlotFull, AlreadyBooked, BookingSuspended, InvalidField)


def booker(access: Access, body: AppointmentCreate) -> Principal:
    """The caller; a booking tied to a case needs `case_linked.book` (a verified real name)."""
    if body.case_id is not None:
        admit(POLICY, "case_linked.book", access.principal)
    return access.principal


def read(appt, actor: Principal) -> AppointmentRead:  # noqa: ANN001
    out = AppointmentRead.model_validate(appt)
    if out.id_number and actor.id_number != out.id_number:
        out.id_number = mask_resident_id(out.id_number)
    return out


@router.post("/halls/{hall_id}/slot-templates", status_code=201, response_model=SlotTemplateRead,
             responses=responses(*AUTH_ERRORS, HallNotFound, CategoryNotFound, IdempotencyKeyReused))
async def create_template(hall_id: uuid.UUID, body: SlotTemplateCreate, session: SessionDep, actor: QueueAdmin,
                          idem: IdempotencyDep):
    """Add a recurring appointment slot with its capacity (admins)."""
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    template = await service.create_template(session, hall_id, body, actor)
    return await idem.remember(session, 201, SlotTemplateRead.model_validate(template))


@router.get("/halls/{hall_id}/slot-templates", dependencies=[Public("hall.read")],
            response_model=Page[SlotTemplateRead],
            responses=responses(HallNotFound))
async def list_templates(hall_id: uuid.UUID, session: SessionDep, page: PageDep) -> Page[SlotTemplateRead]:
    """A hall's recurring slots (public)."""
    await get_hall(session, hall_id)
    return await paginate(session, repository.templates_query(hall_id), page, SlotTemplateRead.model_validate)


@router.get("/halls/{hall_id}/slots", summary="可预约时段", dependencies=[Public("hall.read")],
            response_model=Page[SlotRead], responses=responses(HallNotFound))
async def list_slots(hall_id: uuid.UUID, day: dt.date, session: SessionDep, page: PageDep,
                     settings: SettingsDep) -> Page[SlotRead]:
    """A hall's slots on a day with the places left (public)."""
    slots = await service.slots_on(session, settings, hall_id, day)
    return page_of(slots[page.offset:page.offset + page.limit], len(slots), page)


@router.post("/appointments", summary="预约办事", status_code=201, response_model=AppointmentRead,
             responses=responses(*BOOKING_ERRORS, IdempotencyKeyReused))
async def hold(body: AppointmentCreate, session: SessionDep, access: Booker, settings: SettingsDep,
               idem: IdempotencyDep):
    """Hold a place in a slot (confirm it within the hold time). Full slot → 409; a day outside the
    booking window → 422. Booking for a case (`case_id`) needs a verified real name."""
    actor = booker(access, body)
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    appt = await service.hold(session, settings, body, actor)
    return await idem.remember(session, 201, read(appt, actor))


@router.get("/appointments/mine", summary="我的预约", response_model=Page[AppointmentRead])
async def mine(session: SessionDep, page: PageDep, actor: Caller("appointment.mine")) -> Page[AppointmentRead]:
    """The caller's own appointments."""
    return await paginate(session, repository.person_query(actor.sub), page, lambda a: read(a, actor))


@router.get("/halls/{hall_id}/appointments", response_model=Page[AppointmentRead],
            responses=responses(*AUTH_ERRORS, HallNotFound, NotYourHall))
async def hall_appointments(hall_id: uuid.UUID, session: SessionDep, page: PageDep,
                            access: Can("hall_appointment.list"),
                            settings: SettingsDep, day: dt.date | None = None,
                            status: Annotated[str | None, Query(pattern=r"^[a-z_]{1,12}$")] = None,
                            ) -> Page[AppointmentRead]:
    """A hall's appointments of a day, by slot time (admins, or the hall's clerks; ID numbers masked)."""
    await get_hall(session, hall_id)
    access.check(Target(hall=str(hall_id)))
    actor = access.principal
    query = repository.hall_day_query(hall_id, day or clock.today(settings), status)
    return await paginate(session, query, page, lambda a: read(a, actor))


@router.get("/appointments/{appointment_id}", summary="预约详情", response_model=AppointmentRead,
            responses=responses(*AUTH_ERRORS, AppointmentNotFound, NotOwner))
async def get_appointment(appointment_id: uuid.UUID, session: SessionDep,
                          actor: Caller("appointment.read")) -> AppointmentRead:
    """One appointment (its holder, the hall's clerks, admins)."""
    return read(await service.get_visible(session, appointment_id, actor), actor)


@router.post("/appointments/{appointment_id}/confirm", response_model=AppointmentRead,
             responses=responses(*AUTH_ERRORS, AppointmentNotFound, NotOwner, HoldExpired, AppointmentClosed))
async def confirm(appointment_id: uuid.UUID, session: SessionDep, actor: Changer) -> AppointmentRead:
    """Confirm a hold."""
    return read(await service.confirm(session, appointment_id, actor), actor)


@router.post("/appointments/{appointment_id}/cancel", summary="取消预约", response_model=AppointmentRead,
             responses=responses(*AUTH_ERRORS, AppointmentNotFound, NotOwner, AppointmentClosed))
async def cancel(appointment_id: uuid.UUID, session: SessionDep, actor: Changer) -> AppointmentRead:
    """Cancel a booking."""
    return read(await service.cancel(session, appointment_id, actor), actor)


@router.post("/appointments/{appointment_id}/reschedule", summary="改约", response_model=AppointmentRead,
             responses=responses(*BOOKING_ERRORS, AppointmentNotFound, NotOwner, AppointmentClosed,
                                 IdempotencyKeyReused))
async def reschedule(appointment_id: uuid.UUID, body: AppointmentCreate, session: SessionDep,
                     access: Can("appointment.change"),
                     settings: SettingsDep, idem: IdempotencyDep):
    """Move a confirmed booking to another slot of the same hall and category (a new booking:
    send an Idempotency-Key to retry safely)."""
    actor = booker(access, body)
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    appt = await service.reschedule(session, settings, appointment_id, body, actor)
    return await idem.remember(session, 200, read(appt, actor))


@router.post("/appointments/{appointment_id}/check-in", summary="预约签到取号", response_model=CheckInRead,
             responses=responses(*AUTH_ERRORS, AppointmentNotFound, NotOwner, AppointmentClosed, NotCheckInTime,
                                 IdempotencyKeyReused))
async def check_in(appointment_id: uuid.UUID, session: SessionDep, actor: Caller("appointment.check_in"),
                   settings: SettingsDep,
                   idem: IdempotencyDep):
    """Arrived for the booking (the person, or a clerk of the hall): a priority ticket (send an
    Idempotency-Key to retry safely)."""
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    appt, ticket = await service.check_in(session, settings, appointment_id, actor)
    return await idem.remember(session, 200, CheckInRead(appointment=read(appt, actor),
                                                         ticket=await tickets.view(session, ticket, actor)))


@router.post("/appointments/sweep", response_model=SweepRead, responses=responses(*AUTH_ERRORS))
async def sweep(session: SessionDep, actor: Caller("appointment.sweep"), settings: SettingsDep) -> SweepRead:
    """Expire old holds, record missed appointments and send due reminders now (the worker also
    does it every minute)."""
    expired, missed, reminded = await service.sweep(session, settings)
    return SweepRead(expired_holds=expired, missed=missed, reminded=reminded)
