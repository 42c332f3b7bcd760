"""The working-day calendar: chinese-calendar plus the admins' override table."""

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.db import audit, outbox
from tongban.cases.workday import calendar, repository
from tongban.cases.workday.errors import ScheduleExists, ScheduleInvalid, ScheduleNotFound
from tongban.cases.workday.models import CalendarYear, WorkdayOverride
from tongban.cases.workday.schemas import CalendarStatus, DeadlineRead, ScheduleCreate, WorkdayOverrideUpdate
from tongban.shared import clock
from tongban.shared.auth import Principal
from tongban.shared.contracts import cases as contract
from tongban.shared.events.envelope import make_event
from tongban.shared.workdays import ESTIMATE_BASIS, official_days, package_knows


async def set_override(session: AsyncSession, day: dt.date, body: WorkdayOverrideUpdate,
                       actor: Principal) -> WorkdayOverride:
    """Declare `day` a working day or a holiday (creates or replaces the override), audited."""
    row = await repository.get(session, day)
    if row is None:
        row = WorkdayOverride(on_date=day, is_workday=body.is_workday, reason=body.reason, updated_by=actor.sub)
        await repository.add(session, row)
    else:
        row.is_workday, row.reason, row.updated_by = body.is_workday, body.reason, actor.sub
        await session.flush()
    await audit.record(session, actor, "workday.set", "workday_override", day.isoformat(), body.reason,
                       {"is_workday": body.is_workday})
    return row


async def remove_override(session: AsyncSession, day: dt.date, actor: Principal) -> bool:
    """Drop the override of `day` (chinese-calendar decides again); False when there was none."""
    row = await repository.get(session, day)
    if row is None:
        return False
    await repository.delete_override(session, row)
    await audit.record(session, actor, "workday.remove", "workday_override", day.isoformat())
    return True


async def deadline(session: AsyncSession, start: dt.date, working_days: int) -> DeadlineRead:
    """The deadline `working_days` working days after a submission on `start`."""
    overrides = await repository.overrides_from(session, start)
    deadline_on = calendar.add_working_days(start, working_days, overrides)
    basis = calendar.provisional_basis(start, deadline_on, overrides)
    return DeadlineRead(start=start, received_on=calendar.receipt_day(start, overrides), working_days=working_days,
                        deadline_on=deadline_on, deadline_provisional=basis is not None, deadline_basis=basis)


# --- official schedules ------------------------------------------------------------------------

def check_schedule(year: int, body: ScheduleCreate) -> None:
    """Refuse a schedule that cannot be the year's notice, naming every offending date."""
    problems: list[dict[str, Any]] = []
    if not body.holidays:
        problems.append({"field": "holidays", "problem": "the schedule has no holidays (an empty file?)"})
    for field, days in (("holidays", body.holidays), ("adjusted_workdays", body.adjusted_workdays)):
        seen: set[dt.date] = set()
        for day in days:
            if day.year != year:
                problems.append({"field": field, "date": day.isoformat(), "problem": f"not in {year}"})
            if day in seen:
                problems.append({"field": field, "date": day.isoformat(), "problem": "listed twice"})
            seen.add(day)
    for day in sorted(set(body.adjusted_workdays)):
        if day.weekday() < 5:
            problems.append({"field": "adjusted_workdays", "date": day.isoformat(),
                             "problem": "an adjusted working day (调休) must be a Saturday or Sunday"})
    for day in sorted(set(body.holidays) & set(body.adjusted_workdays)):
        problems.append({"field": "holidays", "date": day.isoformat(),
                         "problem": "both a holiday and an adjusted working day"})
    if body.notice_date.year not in (year - 1, year):
        problems.append({"field": "notice_date", "date": body.notice_date.isoformat(),
                         "problem": f"a notice for {year} is published in {year - 1} or {year}"})
    if problems:
        raise ScheduleInvalid(year, problems)


async def import_schedule(session: AsyncSession, year: int, body: ScheduleCreate, actor: Principal,
                          replace: bool) -> CalendarYear:
    """Store a year's official schedule (or replace it with corrections), expanded to every day,
    audited, with an event for every service that counts working days. Open cases' deadlines are
    recomputed afterwards in batches (calendar_flow), each batch in its own transaction."""
    check_schedule(year, body)
    row = await repository.get_year(session, year, lock=True)
    if row is None and replace:
        raise ScheduleNotFound(f"no schedule for {year}; POST /api/v1/cases/calendar/years to import it")
    if row is not None and not replace:
        raise ScheduleExists(year, row.revision)
    holidays_, workdays_ = sorted(set(body.holidays)), sorted(set(body.adjusted_workdays))
    fields = {"notice_number": body.notice_number, "notice_date": body.notice_date,
              "holidays": [d.isoformat() for d in holidays_], "adjusted_workdays": [d.isoformat() for d in workdays_],
              "imported_by": actor.sub, "imported_at": clock.now()}
    if row is None:
        row = CalendarYear(year=year, revision=1, **fields)
        await repository.add_year(session, row)
    else:
        for name, value in fields.items():
            setattr(row, name, value)
        row.revision += 1
        await session.flush()
    await repository.replace_days(session, year, official_days(year, frozenset(holidays_), frozenset(workdays_)))
    await audit.record(session, actor, "calendar.import" if row.revision == 1 else "calendar.replace",
                       "calendar_year", str(year), body.notice_number,
                       {"revision": row.revision, "holidays": len(holidays_), "adjusted_workdays": len(workdays_)})
    await outbox.add(session, make_event("cases", contract.CALENDAR_SCHEDULE_IMPORTED, contract.CalendarScheduleImportedV1(
        year=year, notice_number=body.notice_number, notice_date=body.notice_date, holidays=holidays_,
        adjusted_workdays=workdays_, revision=row.revision, at=clock.now()), subject=str(year)))
    return row


async def status(session: AsyncSession) -> CalendarStatus:
    today = clock.today()
    years = sorted(await repository.known_years(session))
    until = today.year
    while package_knows(until + 1):
        until += 1
    while not package_knows(until) and until > 2004:
        until -= 1
    nxt = today.year + 1
    return CalendarStatus(today=today, official_years=years, package_years_until=until, next_year=nxt,
                          next_year_missing=nxt not in years and not package_knows(nxt), estimate=ESTIMATE_BASIS)
