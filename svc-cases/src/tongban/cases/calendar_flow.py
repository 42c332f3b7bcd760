"""When the calendar changes, the cases follow: a flow above the `workday` and `case` aggregates.

After an admin imports (or corrects) a year's official schedule, every open case whose deadline
was provisional or reaches into that year is recomputed in batches, one transaction each: the
new deadline, a timeline entry saying why, an audit record and `cases.case.deadline_changed`.
The pass is idempotent (a case already right is left alone), so a crash midway, a second
replica or a rerun only finishes the job. The year is marked done only after its last batch.

From 1 November the flow also watches for next year's schedule: while it is missing, the gauge
`calendar_next_year_missing` is 1, and once a day a warning is logged and
`cases.calendar.next_year_missing` is published for admins.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tongban.cases.case import clock as case_clock
from tongban.cases.case import repository as cases
from tongban.cases.case.models import Case, CaseTimelineEntry
from tongban.cases.db import audit, outbox
from tongban.cases.setting import repository as settings
from tongban.cases.workday import repository as workdays
from tongban.shared import clock
from tongban.shared.contracts import cases as contract
from tongban.shared.events.envelope import make_event
from tongban.shared.metrics import Probe
from tongban.shared.workdays import package_knows

log = logging.getLogger("tongban.cases.calendar")
ACTOR = "system:calendar"
BATCH = 200
INTERVAL = 5.0           # an import's effect shows within seconds
ALERT_FROM = (11, 1)     # month, day: from when next year's missing schedule is an alert
ALERT_KEY = "calendar_next_year_missing_alerted_on"


async def run(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """One pass of the periodic task: recompute what imports left pending, then the alert."""
    await recompute_pending(sessionmaker)
    async with sessionmaker() as session, session.begin():
        await check_next_year(session, clock.today())


async def recompute_pending(sessionmaker: async_sessionmaker[AsyncSession], batch: int = BATCH) -> int:
    """Recompute the open cases of every year imported since the last pass; returns how many moved."""
    async with sessionmaker() as session, session.begin():
        pending = [(y.year, y.revision, y.notice_number) for y in await workdays.pending_recompute(session)]
    moved = 0
    for year, revision, notice in pending:
        reason = f"{year} official holiday schedule imported ({notice}, revision {revision})"
        after = None
        while True:
            async with sessionmaker() as session, session.begin():
                found = await _recompute_batch(session, dt.date(year, 1, 1), after, batch, reason)
            if found is None:
                break
            after, changed = found
            moved += changed
        async with sessionmaker() as session, session.begin():
            await workdays.mark_recomputed(session, year, revision)
        log.info("deadlines recomputed after the %s schedule (revision %s): %s moved", year, revision, moved)
    return moved


async def _recompute_batch(session: AsyncSession, since: dt.date, after, size: int,
                           reason: str) -> tuple[object, int] | None:
    batch = await cases.deadlines_to_recompute(session, since, after, size)
    if not batch:
        return None
    overrides = await workdays.overrides_from(session, min(c.received_on or since for c in batch) - dt.timedelta(days=1))
    changed = 0
    for case in batch:
        previous = case.deadline_on
        if case_clock.recompute(case, overrides):
            await _record(session, case, previous, reason)
            changed += 1
    return batch[-1].id, changed


async def _record(session: AsyncSession, case: Case, previous: dt.date | None, reason: str) -> None:
    provisional = case.deadline_basis is not None
    detail = {"previous_deadline_on": previous.isoformat() if previous else None,
              "deadline_on": case.deadline_on.isoformat() if case.deadline_on else None,
              "deadline_provisional": provisional, **({"deadline_basis": case.deadline_basis} if provisional else {})}
    await cases.add_entry(session, CaseTimelineEntry(case_id=case.id, action="deadline_changed", from_state=case.state,
                                                     to_state=case.state, actor=ACTOR, actor_role="system",
                                                     reason=reason, detail=detail))
    await audit.record(session, ACTOR, "case.deadline_changed", "case", str(case.id), reason,
                       {"case_number": case.case_number, **detail})
    await outbox.add(session, make_event("cases", contract.CASE_DEADLINE_CHANGED, contract.CaseDeadlineChangedV1(
        case_id=case.id, case_number=case.case_number, item_basic_code=case.basic_code, department=case.department,
        state=case.state, previous_deadline_on=previous, deadline_on=case.deadline_on,
        deadline_provisional=provisional, reason=reason, at=clock.now()), subject=str(case.id)))


async def next_year_missing(session: AsyncSession, today: dt.date) -> bool:
    """From 1 November: is next year's official schedule still unknown?"""
    nxt = today.year + 1
    return ((today.month, today.day) >= ALERT_FROM and not package_knows(nxt)
            and await workdays.get_year(session, nxt) is None)


async def _gauge(session: AsyncSession) -> float:
    return 1.0 if await next_year_missing(session, clock.today()) else 0.0


PROBE = Probe("calendar_next_year_missing",
              "1 while next year's official holiday schedule is not imported (from 1 November)", _gauge)


async def check_next_year(session: AsyncSession, today: dt.date) -> bool:
    """While next year's schedule is missing (from 1 November), once a day (across replicas: the
    day is stored) log a warning and publish the admins' event. True while it is missing."""
    if not await next_year_missing(session, today):
        return False
    nxt = today.year + 1
    if not await settings.claim_daily(session, ALERT_KEY, today):
        return True
    open_provisional = (await session.execute(select(func.count()).select_from(Case).where(
        Case.deadline_basis.is_not(None), Case.state.in_(cases.CLOCKED_STATES)))).scalar_one()
    log.warning("the %s official holiday schedule is not imported: deadlines reaching into %s are provisional "
                "(%s open cases); import it with POST /api/v1/cases/calendar/years/%s", nxt, nxt, open_provisional, nxt)
    await outbox.add(session, make_event("cases", contract.CALENDAR_NEXT_YEAR_MISSING, contract.CalendarNextYearMissingV1(
        year=nxt, on=today, provisional_cases=open_provisional), subject=str(nxt)))
    return True
