import datetime as dt
import uuid

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.queue.appointment.models import Appointment, Slot, SlotTemplate


async def add(session: AsyncSession, obj: object) -> None:
    session.add(obj)
    await session.flush()


async def get_template(session: AsyncSession, template_id: uuid.UUID) -> SlotTemplate | None:
    return await session.get(SlotTemplate, template_id)


def templates_query(hall_id: uuid.UUID) -> Select[tuple[SlotTemplate]]:
    """A hall's slot templates by weekday and time."""
    return select(SlotTemplate).where(SlotTemplate.hall_id == hall_id).order_by(
        SlotTemplate.weekday, SlotTemplate.starts, SlotTemplate.category, SlotTemplate.id)


async def templates_on(session: AsyncSession, hall_id: uuid.UUID, weekday: int) -> list[SlotTemplate]:
    return list((await session.execute(templates_query(hall_id).where(SlotTemplate.weekday == weekday))).scalars())


async def lock_slot(session: AsyncSession, template_id: uuid.UUID, day: dt.date) -> None:
    """Take the slot's row lock: bookings of one slot are counted one at a time."""
    await session.execute(insert(Slot).values(template_id=template_id, day=day).on_conflict_do_nothing())
    await session.execute(select(Slot).where(Slot.template_id == template_id, Slot.day == day).with_for_update())


def _live(now: dt.datetime):  # noqa: ANN202 - a SQL condition
    return or_(Appointment.status.in_(("confirmed", "checked_in")),
               and_(Appointment.status == "held", Appointment.hold_expires_at > now))


async def taken(session: AsyncSession, template_ids: list[uuid.UUID], day: dt.date,
                now: dt.datetime) -> dict[uuid.UUID, int]:
    """Places taken per template on a day (holds count until they expire)."""
    if not template_ids:
        return {}
    rows = (await session.execute(select(Appointment.template_id, func.count()).where(
        Appointment.template_id.in_(template_ids), Appointment.day == day, _live(now))
        .group_by(Appointment.template_id))).all()
    return {t: n for t, n in rows}


async def expire_holds(session: AsyncSession, now: dt.datetime, person_key: str | None = None) -> list[Appointment]:
    """Mark holds past their expiry as expired (all, or one person's); returns them."""
    stmt = update(Appointment).where(Appointment.status == "held", Appointment.hold_expires_at <= now).values(
        status="expired")
    if person_key is not None:
        stmt = stmt.where(Appointment.person_key == person_key)
    return list((await session.execute(stmt.returning(Appointment),
                                       execution_options={"synchronize_session": False})).scalars())


async def get(session: AsyncSession, appointment_id: uuid.UUID, lock: bool = False) -> Appointment | None:
    stmt = select(Appointment).where(Appointment.id == appointment_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def booked_same_day(session: AsyncSession, person_key: str, category: str, day: dt.date,
                          now: dt.datetime, other_than: uuid.UUID | None = None) -> bool:
    """Does the person hold a live booking of this category on this day?"""
    stmt = select(Appointment.id).where(Appointment.person_key == person_key, Appointment.category == category,
                                        Appointment.day == day, _live(now))
    if other_than is not None:
        stmt = stmt.where(Appointment.id != other_than)
    return (await session.execute(stmt.limit(1))).first() is not None


async def misses(session: AsyncSession, person_key: str, since: dt.datetime) -> tuple[int, dt.datetime | None]:
    """The person's missed appointments since `since`: how many, and the latest."""
    row = (await session.execute(select(func.count(), func.max(Appointment.missed_at)).where(
        Appointment.person_key == person_key, Appointment.status == "missed", Appointment.missed_at >= since))).one()
    return int(row[0]), row[1]


async def active_in_days(session: AsyncSession, hall_id: uuid.UUID, first: dt.date,
                         last: dt.date) -> list[Appointment]:
    """A hall's held or confirmed appointments between two days, locked."""
    return list((await session.execute(select(Appointment).where(
        Appointment.hall_id == hall_id, Appointment.day >= first, Appointment.day <= last,
        Appointment.status.in_(("held", "confirmed"))).with_for_update())).scalars())


async def confirmed_until(session: AsyncSession, day: dt.date) -> list[Appointment]:
    """Confirmed appointments on or before `day` (candidates for a missed check), locked."""
    return list((await session.execute(select(Appointment).where(
        Appointment.status == "confirmed", Appointment.day <= day).with_for_update(skip_locked=True))).scalars())


async def to_remind(session: AsyncSession, first: dt.date, last: dt.date) -> list[Appointment]:
    """Confirmed appointments between two days not reminded yet, locked (skipping locked ones)."""
    return list((await session.execute(select(Appointment).where(
        Appointment.status == "confirmed", Appointment.day >= first, Appointment.day <= last,
        Appointment.reminded_at.is_(None)).with_for_update(skip_locked=True))).scalars())


def hall_day_query(hall_id: uuid.UUID, day: dt.date, status: str | None) -> Select[tuple[Appointment]]:
    """A hall's appointments of a day, by slot time."""
    stmt = select(Appointment).where(Appointment.hall_id == hall_id, Appointment.day == day)
    if status:
        stmt = stmt.where(Appointment.status == status)
    return stmt.order_by(Appointment.starts, Appointment.category, Appointment.created_at, Appointment.id)


async def missed_on(session: AsyncSession, hall_ids: list[uuid.UUID], day: dt.date) -> dict[uuid.UUID, int]:
    """Missed appointments (never checked in) per hall on a day."""
    rows = (await session.execute(select(Appointment.hall_id, func.count()).where(
        Appointment.hall_id.in_(hall_ids), Appointment.day == day, Appointment.status == "missed")
        .group_by(Appointment.hall_id))).all()
    return {h: n for h, n in rows}


def person_query(person_sub: str) -> Select[tuple[Appointment]]:
    """A person's appointments, soonest day first."""
    return select(Appointment).where(Appointment.person_sub == person_sub).order_by(
        Appointment.day.desc(), Appointment.starts, Appointment.id)


async def count_on(session: AsyncSession, hall_ids: list[uuid.UUID], day: dt.date) -> dict[uuid.UUID, int]:
    """Appointments per hall on a day that were confirmed at some point."""
    rows = (await session.execute(select(Appointment.hall_id, func.count()).where(
        Appointment.hall_id.in_(hall_ids), Appointment.day == day,
        Appointment.confirmed_at.is_not(None)).group_by(Appointment.hall_id))).all()
    return {h: n for h, n in rows}
