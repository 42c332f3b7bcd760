"""Handlers of svc-cases' events: the official holiday schedules, kept as a read copy."""

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.queue.hall import repository
from tongban.shared.contracts.cases import CALENDAR_SCHEDULE_IMPORTED, CalendarScheduleImportedV1
from tongban.shared.events.envelope import Envelope
from tongban.shared.events.inbox import Subscription
from tongban.shared.workdays import official_days

log = logging.getLogger("tongban.queue.calendar")


async def on_calendar_event(session: AsyncSession, event: Envelope) -> None:
    if event.type != CALENDAR_SCHEDULE_IMPORTED:
        return  # the next-year alert is for admins, not for halls
    data = CalendarScheduleImportedV1.model_validate(event.data)
    held = await repository.official_revision(session, data.year)
    if held is not None and held >= data.revision:
        return  # an older revision arriving late changes nothing
    days = official_days(data.year, frozenset(data.holidays), frozenset(data.adjusted_workdays))
    await repository.replace_official_year(session, data.year, data.revision, days)
    log.info("official schedule %s (revision %s, %s) now opens and closes the halls", data.year, data.revision,
             data.notice_number)


SUBSCRIPTIONS = [Subscription(source="cases", subject="cases.calendar.>", durable="queue-cases-calendar",
                              handler=on_calendar_event)]
