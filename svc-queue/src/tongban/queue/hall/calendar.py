"""Working days for halls: the admin's override table first, then chinese-calendar, through the
same shared calendar svc-cases counts legal limits with. For a date neither knows the answer is
an error, never a guess: a wrong guess would open bookings on a public holiday."""

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.queue.hall import repository
from tongban.queue.hall.errors import CalendarUnknown
from tongban.shared.workdays import Source, Workdays


def _unknown(day: dt.date) -> CalendarUnknown:
    return CalendarUnknown(f"no working-day data for {day.isoformat()}: an admin must add a calendar "
                           "override for it")


async def working_day(session: AsyncSession, day: dt.date) -> tuple[bool, Source]:
    """(is it a working day, where the answer came from: "override" or "chinese-calendar")."""
    override = await repository.get_override(session, day)
    overrides = {day: override.is_working_day} if override is not None else None
    return Workdays(overrides, unknown=_unknown).lookup(day)


async def is_working_day(session: AsyncSession, day: dt.date) -> bool:
    """True on working days (make-up Saturdays included), False on weekends and holidays."""
    return (await working_day(session, day))[0]
