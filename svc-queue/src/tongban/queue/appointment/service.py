"""Appointment rules (云预约): a booking window, one booking per person, category and day,
hold-then-confirm, a no-show penalty, closures that cancel bookings, and check-in that gives a
priority ticket."""

import datetime as dt
import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.queue import clock
from tongban.queue.appointment import repository
from tongban.queue.appointment.errors import (
    AlreadyBooked, AppointmentClosed, AppointmentNotFound, BookingSuspended, HoldExpired, NotCheckInTime, SlotFull,
    SlotTemplateNotFound,
)
from tongban.queue.appointment.models import Appointment, SlotTemplate
from tongban.queue.appointment.schemas import AppointmentCreate, SlotRead, SlotTemplateCreate
from tongban.queue.config import Settings
from tongban.queue.db import audit, outbox
from tongban.queue.hall import repository as halls
from tongban.queue.hall import service as hall_service
from tongban.queue.hall.errors import CategoryNotFound
from tongban.queue.ticket import service as tickets
from tongban.queue.ticket.models import Ticket
from tongban.queue.ticket.schemas import TicketCreate
from tongban.shared.auth import Principal, ensure_owner
from tongban.shared.contracts.queue import (
    APPOINTMENT_CANCELLED, APPOINTMENT_CHECKED_IN, APPOINTMENT_CONFIRMED, APPOINTMENT_EXPIRED, APPOINTMENT_HELD,
    APPOINTMENT_MISSED, APPOINTMENT_REMINDED, AppointmentV1,
)
from tongban.shared.errors import InvalidField
from tongban.shared.events.envelope import make_event


def person_key(actor: Principal) -> str:
    return actor.id_number or f"sub:{actor.sub}"


async def _emit(session: AsyncSession, appt: Appointment, subject: str, reason: str | None = None) -> None:
    await outbox.add(session, make_event("queue", subject, AppointmentV1(
        appointment_id=appt.id, hall_id=appt.hall_id, category=appt.category, day=appt.day, starts=appt.starts,
        ends=appt.ends, status=appt.status, person_sub=appt.person_sub, reason=reason, ticket_id=appt.ticket_id,
        case_id=appt.case_id), subject=str(appt.id)))


async def _expire_holds(session: AsyncSession, now: dt.datetime, key: str | None = None) -> int:
    """Expire unconfirmed holds past their time (all, or one person's), telling each person."""
    expired = await repository.expire_holds(session, now, key)
    for appt in expired:
        await _emit(session, appt, APPOINTMENT_EXPIRED, "hold not confirmed in time")
        await audit.record(session, "svc-queue", "appointment.expired", "appointment", str(appt.id),
                           reason="hold not confirmed in time")
    return len(expired)


async def create_template(session: AsyncSession, hall_id: uuid.UUID, data: SlotTemplateCreate,
                          actor: Principal) -> SlotTemplate:
    """Add a recurring slot to a hall (admins)."""
    await hall_service.get_hall(session, hall_id)
    if await halls.get_category(session, hall_id, data.category) is None:
        raise CategoryNotFound(f"the hall has no category {data.category}")
    template = SlotTemplate(hall_id=hall_id, **data.model_dump())
    await repository.add(session, template)
    await audit.record(session, actor, "slot_template.created", "slot_template", str(template.id),
                       detail={"hall_id": str(hall_id), "weekday": data.weekday, "capacity": data.capacity})
    return template


async def slots_on(session: AsyncSession, settings: Settings, hall_id: uuid.UUID, day: dt.date) -> list[SlotRead]:
    """The hall's slots on a day with the places left (none on days it does not open)."""
    hall = await hall_service.get_hall(session, hall_id)
    interval = await hall_service.open_between(session, settings, hall, day)
    if interval is None:
        return []
    templates = await repository.templates_on(session, hall_id, day.isoweekday())
    taken = await repository.taken(session, [t.id for t in templates], day, clock.now())
    return [SlotRead(template_id=t.id, category=t.category, day=day, starts=t.starts, ends=t.ends,
                     capacity=t.capacity, available=max(0, t.capacity - taken.get(t.id, 0))) for t in templates]


async def _check_bookable(session: AsyncSession, settings: Settings, template: SlotTemplate, day: dt.date,
                          actor: Principal) -> None:
    now = clock.now()
    today = clock.today(settings)
    last = today + dt.timedelta(days=settings.booking_window_days)
    if not today <= day <= last:
        raise InvalidField("day", f"bookings are open from {today.isoformat()} to {last.isoformat()}")
    if day.isoweekday() != template.weekday:
        raise InvalidField("day", f"this slot is on ISO weekday {template.weekday}, not {day.isoweekday()}")
    starts = clock.at_local(settings, day, template.starts)
    if starts <= now:
        raise InvalidField("day", "this slot has already started")
    hall = await hall_service.get_hall(session, template.hall_id)
    if await hall_service.open_between(session, settings, hall, day) is None:
        raise InvalidField("day", f"the hall does not open on {day.isoformat()}")
    if await halls.closures_overlapping(session, hall.id, starts, clock.at_local(settings, day, template.ends)):
        raise InvalidField("day", "the hall is closed during this slot")
    since = now - dt.timedelta(days=settings.no_show_window_days)
    missed, latest = await repository.misses(session, person_key(actor), since)
    if missed >= settings.no_show_limit and latest is not None:
        until = latest + dt.timedelta(days=settings.no_show_penalty_days)
        if until > now:
            raise BookingSuspended(f"{missed} missed appointments in {settings.no_show_window_days} days: "
                                   f"booking is suspended until {until.isoformat()}", suspended_until=until.isoformat())


async def _take_place(session: AsyncSession, settings: Settings, template: SlotTemplate, day: dt.date,
                      actor: Principal, status: str, case_id: str | None,
                      other_than: uuid.UUID | None = None) -> Appointment:
    now = clock.now()
    key = person_key(actor)
    await _expire_holds(session, now, key)
    if await repository.booked_same_day(session, key, template.category, day, now, other_than):
        raise AlreadyBooked()
    await repository.lock_slot(session, template.id, day)
    if (await repository.taken(session, [template.id], day, now)).get(template.id, 0) >= template.capacity:
        raise SlotFull(f"all {template.capacity} places of this slot are taken")
    appt = Appointment(
        hall_id=template.hall_id, template_id=template.id, category=template.category, day=day,
        starts=template.starts, ends=template.ends, person_sub=actor.sub, person_key=key, id_number=actor.id_number,
        status=status, hold_expires_at=now + dt.timedelta(minutes=settings.hold_minutes) if status == "held" else None,
        confirmed_at=now if status == "confirmed" else None, case_id=case_id)
    try:
        async with session.begin_nested():
            await repository.add(session, appt)
    except IntegrityError as exc:  # a concurrent booking of the same person won the race
        raise AlreadyBooked() from exc
    return appt


async def hold(session: AsyncSession, settings: Settings, data: AppointmentCreate, actor: Principal) -> Appointment:
    """Hold a place; it must be confirmed within `hold_minutes`."""
    template = await repository.get_template(session, data.template_id)
    if template is None:
        raise SlotTemplateNotFound()
    await _check_bookable(session, settings, template, data.day, actor)
    appt = await _take_place(session, settings, template, data.day, actor, "held", data.case_id)
    await _emit(session, appt, APPOINTMENT_HELD)
    await audit.record(session, actor, "appointment.held", "appointment", str(appt.id),
                       detail={"template_id": str(template.id), "day": data.day.isoformat()})
    return appt


async def _own(session: AsyncSession, appointment_id: uuid.UUID, actor: Principal) -> Appointment:
    appt = await repository.get(session, appointment_id, lock=True)
    if appt is None:
        raise AppointmentNotFound()
    if appt.person_sub != actor.sub:
        ensure_owner(actor, person=appt.id_number or "", staff_scope="queue:admin")
    return appt


async def get_visible(session: AsyncSession, appointment_id: uuid.UUID, actor: Principal) -> Appointment:
    """The appointment, for its holder, its hall's clerks, or an admin."""
    appt = await repository.get(session, appointment_id)
    if appt is None:
        raise AppointmentNotFound()
    if appt.person_sub == actor.sub or (actor.has("queue:operate") and str(appt.hall_id) in actor.halls):
        return appt
    ensure_owner(actor, person=appt.id_number or "", staff_scope="queue:admin")
    return appt


async def confirm(session: AsyncSession, appointment_id: uuid.UUID, actor: Principal) -> Appointment:
    """Confirm a hold before it expires."""
    appt = await _own(session, appointment_id, actor)
    if appt.status == "held" and appt.hold_expires_at is not None and appt.hold_expires_at <= clock.now():
        appt.status = "expired"
        await session.flush()
    if appt.status == "expired":
        raise HoldExpired()
    if appt.status != "held":
        raise AppointmentClosed(f"the appointment is {appt.status}")
    appt.status, appt.confirmed_at, appt.hold_expires_at = "confirmed", clock.now(), None
    await session.flush()
    await _emit(session, appt, APPOINTMENT_CONFIRMED)
    await audit.record(session, actor, "appointment.confirmed", "appointment", str(appt.id))
    return appt


async def _cancel(session: AsyncSession, appt: Appointment, reason: str, actor: Principal | str) -> None:
    appt.status, appt.cancelled_at, appt.cancel_reason = "cancelled", clock.now(), reason
    await session.flush()
    await _emit(session, appt, APPOINTMENT_CANCELLED, reason)
    await audit.record(session, actor, "appointment.cancelled", "appointment", str(appt.id), reason=reason)


async def cancel(session: AsyncSession, appointment_id: uuid.UUID, actor: Principal) -> Appointment:
    """The person cancels a held or confirmed booking."""
    appt = await _own(session, appointment_id, actor)
    if appt.status not in ("held", "confirmed"):
        raise AppointmentClosed(f"the appointment is {appt.status}")
    await _cancel(session, appt, "cancelled by the person", actor)
    return appt


async def reschedule(session: AsyncSession, settings: Settings, appointment_id: uuid.UUID, data: AppointmentCreate,
                     actor: Principal) -> Appointment:
    """Move a confirmed booking to another slot (same category): the new one is confirmed at once,
    the old one cancelled, in one transaction; if the new slot is full, nothing changes."""
    appt = await _own(session, appointment_id, actor)
    if appt.status != "confirmed":
        raise AppointmentClosed(f"only a confirmed appointment can be moved; this one is {appt.status}")
    template = await repository.get_template(session, data.template_id)
    if template is None:
        raise SlotTemplateNotFound()
    if template.category != appt.category or template.hall_id != appt.hall_id:
        raise InvalidField("template_id", "a booking moves to a slot of the same hall and category")
    await _check_bookable(session, settings, template, data.day, actor)
    await _cancel(session, appt, "rescheduled", actor)
    new = await _take_place(session, settings, template, data.day, actor, "confirmed", data.case_id or appt.case_id,
                            other_than=appt.id)
    await _emit(session, new, APPOINTMENT_CONFIRMED)
    await audit.record(session, actor, "appointment.rescheduled", "appointment", str(new.id),
                       detail={"from": str(appt.id)})
    return new


async def check_in(session: AsyncSession, settings: Settings, appointment_id: uuid.UUID,
                   actor: Principal) -> tuple[Appointment, Ticket]:
    """On the day, from shortly before the slot to its end: a priority ticket for the booking."""
    appt = await repository.get(session, appointment_id, lock=True)
    if appt is None:
        raise AppointmentNotFound()
    if appt.person_sub != actor.sub and not (actor.has("queue:operate") and str(appt.hall_id) in actor.halls):
        ensure_owner(actor, person=appt.id_number or "")
    if appt.status != "confirmed":
        raise AppointmentClosed(f"the appointment is {appt.status}")
    now = clock.now()
    opens = clock.at_local(settings, appt.day, appt.starts) - dt.timedelta(minutes=settings.checkin_early_minutes)
    closes = clock.at_local(settings, appt.day, appt.ends)
    if not opens <= now <= closes:
        raise NotCheckInTime(f"check-in is open from {opens.isoformat()} to {closes.isoformat()}")
    ticket = await tickets.issue(session, settings, appt.hall_id,
                                 TicketCreate(category=appt.category, case_id=appt.case_id), actor,
                                 appointment_id=appt.id, holder=(appt.person_sub, appt.id_number))
    appt.status, appt.checked_in_at, appt.ticket_id = "checked_in", now, ticket.id
    await session.flush()
    await _emit(session, appt, APPOINTMENT_CHECKED_IN)
    await audit.record(session, actor, "appointment.checked_in", "appointment", str(appt.id),
                       detail={"ticket_id": str(ticket.id)})
    return appt, ticket


async def cancel_for_closure(session: AsyncSession, settings: Settings, hall_id: uuid.UUID, starts_at: dt.datetime,
                             ends_at: dt.datetime, reason: str, actor: Principal) -> int:
    """Cancel the hall's bookings whose slot overlaps the closure; each person gets an event."""
    first, last = clock.local(settings, starts_at).date(), clock.local(settings, ends_at).date()
    cancelled = 0
    for appt in await repository.active_in_days(session, hall_id, first, last):
        if (clock.at_local(settings, appt.day, appt.starts) < ends_at
                and clock.at_local(settings, appt.day, appt.ends) > starts_at):
            await _cancel(session, appt, f"hall closed: {reason}", actor)
            cancelled += 1
    return cancelled


async def sweep(session: AsyncSession, settings: Settings) -> tuple[int, int, int]:
    """Expire old holds; mark confirmed appointments whose slot ended without a check-in as
    missed (they count towards the no-show penalty); remind, once, everyone whose appointment
    starts within `reminder_hours`. Returns (expired, missed, reminded)."""
    now = clock.now()
    expired = await _expire_holds(session, now)
    missed = 0
    for appt in await repository.confirmed_until(session, clock.today(settings)):
        if clock.at_local(settings, appt.day, appt.ends) < now:
            appt.status, appt.missed_at = "missed", now
            await session.flush()
            await _emit(session, appt, APPOINTMENT_MISSED)
            await audit.record(session, "svc-queue", "appointment.missed", "appointment", str(appt.id))
            missed += 1
    reminded = 0
    horizon = now + dt.timedelta(hours=settings.reminder_hours)
    for appt in await repository.to_remind(session, clock.today(settings), clock.local(settings, horizon).date()):
        starts = clock.at_local(settings, appt.day, appt.starts)
        if now < starts <= horizon:
            appt.reminded_at = now
            await session.flush()
            await _emit(session, appt, APPOINTMENT_REMINDED)
            reminded += 1
    return expired, missed, reminded
