"""Working days: the admin's override table first, then chinese-calendar (which knows China's
holidays and make-up working days up to the year it was released for). For any other date the
answer is an error, never a guess: a wrong guess would open bookings on a public holiday."""

import datetime as dt

import chinese_calendar
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.queue.hall import repository
from tongban.queue.hall.errors import CalendarUnknown


async def working_day(session: AsyncSession, day: dt.date) -> tuple[bool, str]:
    """(is it a working day, where the answer came from: "override" or "chinese-calendar")."""
    override = await repository.get_override(session, day)
    if override is not None:
        return override.is_working_day, "override"
    try:
        return bool(chinese_calendar.is_workday(day)), "chinese-calendar"
    except NotImplementedError as exc:
        raise CalendarUnknown(f"no working-day data for {day.isoformat()}: an admin must add a calendar "
                              "override for it") from exc


async def is_working_day(session: AsyncSession, day: dt.date) -> bool:
    """True on working days (make-up Saturdays included), False on weekends and holidays."""
    return (await working_day(session, day))[0]
