"""Working days for halls: the admin's override table first, then the official schedules svc-cases
imports (a read copy), then chinese-calendar, through the same shared calendar svc-cases counts
legal limits with. A day of a year nobody has published is estimated (weekends and statutory
holidays): halls open and slots are offered on it, and the answer says `estimate`, so a board or
a booking page can say the day is provisional."""

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.queue.hall import repository
from tongban.shared.workdays import Source, Workdays


async def working_day(session: AsyncSession, day: dt.date) -> tuple[bool, Source]:
    """(is it a working day, where the answer came from: override, official, chinese-calendar, estimate)."""
    override = await repository.get_override(session, day)
    overrides = {day: override.is_working_day} if override is not None else None
    official, year_known = (None, False) if override is not None else await repository.official_day(session, day)
    return Workdays(overrides, {day: official} if official is not None else None,
                    frozenset({day.year}) if year_known else frozenset()).lookup(day)


async def is_working_day(session: AsyncSession, day: dt.date) -> bool:
    """True on working days (make-up Saturdays included), False on weekends and holidays."""
    return (await working_day(session, day))[0]
