"""Handlers of svc-cases' events: the official holiday schedules, kept as a read copy; cases,
deadline warnings, ratings and remedies, folded into the city dashboard's read model."""

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.queue.dashboard import service as dashboard
from tongban.queue.hall import repository
from tongban.shared.contracts.cases import (
    CALENDAR_SCHEDULE_IMPORTED, RATING_SUBMITTED, REMEDY_CLOSED, REMEDY_OPENED, CalendarScheduleImportedV1,
    RatingSubmittedV1, RemedyV1,
)
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


async def on_case_event(session: AsyncSession, event: Envelope) -> None:
    # Kinds the dashboard does not count (the 容缺 reminder, kinds added later) are skipped.
    await dashboard.apply_case_event(session, event)


async def on_rating_event(session: AsyncSession, event: Envelope) -> None:
    if event.type == RATING_SUBMITTED:
        await dashboard.apply_rating(session, RatingSubmittedV1.model_validate(event.data))


async def on_remedy_event(session: AsyncSession, event: Envelope) -> None:
    if event.type in (REMEDY_OPENED, REMEDY_CLOSED):
        await dashboard.apply_remedy(session, RemedyV1.model_validate(event.data))


SUBSCRIPTIONS = [
    Subscription(source="cases", subject="cases.calendar.>", durable="queue-cases-calendar",
                 handler=on_calendar_event),
    Subscription(source="cases", subject="cases.case.>", durable="queue-cases-case", handler=on_case_event),
    Subscription(source="cases", subject="cases.rating.>", durable="queue-cases-rating", handler=on_rating_event),
    Subscription(source="cases", subject="cases.remedy.>", durable="queue-cases-remedy", handler=on_remedy_event),
]
