"""The periodic deadline checker (run by the worker every INTERVAL seconds):
yellow warnings at 80 % of the limit, red when overdue, and suspension of cases whose missing
materials (容缺) did not come by their due date, default ratings for cases left unrated,
supervision (督办) of overdue hotline tickets, and one reminder to grantees of a benefit policy who
have not said where to pay. Each flag is set once, in the same transaction as
its event, so replicas and reruns never warn twice."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tongban.cases.benefit import service as benefits
from tongban.cases.case import clock, repository, steps
from tongban.cases.case.models import Case
from tongban.cases.db import outbox
from tongban.cases.rating import service as ratings
from tongban.cases.ticket import service as tickets
from tongban.cases.workday import calendar
from tongban.cases.workday import repository as workdays
from tongban.shared.contracts import cases as contract
from tongban.shared.events.envelope import make_event

CHECKER = "system:deadline-checker"
GAPS_REMINDER_WORKING_DAYS = 2  # 容缺: remind the applicant this many working days before the due date
INTERVAL = 60.0  # deadlines are days apart: a minute's delay in a warning costs nothing
_LOCK = 7_202_611_220  # one checker at a time across replicas (pg advisory lock id)


async def check(session: AsyncSession, today: dt.date, at: dt.datetime | None = None) -> dict[str, int]:
    """One pass as of `today` (and the instant `at`, default now): returns how many warnings,
    overdues, suspensions and default ratings it raised."""
    counts = {"yellow": 0, "red": 0, "suspended": 0, "gaps_reminders": 0, "default_ratings": 0,
              "supervised_tickets": 0, "account_reminders": 0}
    if not (await session.execute(select(func.pg_try_advisory_xact_lock(_LOCK)))).scalar():
        return counts
    overrides = await workdays.overrides_from(session, today - dt.timedelta(days=800))
    at = at or steps.now()
    for case in await repository.clocks_to_check(session):
        assert case.deadline_on is not None
        if today > case.deadline_on:
            case.overdue_at = at
            case.warned_at = case.warned_at or at
            await _flag(session, case, "red", today, overrides, at)
            counts["red"] += 1
        elif case.warned_at is None and clock.warning_due(case, today, overrides):
            case.warned_at = at
            await _flag(session, case, "yellow", today, overrides, at)
            counts["yellow"] += 1
    for case in await repository.gaps_due_soon(session, today, today + dt.timedelta(days=14)):
        assert case.gaps_due_on is not None and case.gaps is not None
        left = calendar.working_days_between(today, case.gaps_due_on, overrides)
        if left <= GAPS_REMINDER_WORKING_DAYS:
            case.gaps_reminded_at = at
            await outbox.add(session, make_event("cases", contract.CASE_GAPS_REMINDER, contract.CaseGapsReminderV1(
                case_id=case.id, case_number=case.case_number, item_basic_code=case.basic_code,
                department=case.department, state=case.state, gaps=list(case.gaps), gaps_due_on=case.gaps_due_on,
                days_left=left, at=at, **steps.origin_fields(case)), subject=str(case.id)))
            counts["gaps_reminders"] += 1
    for case in await repository.gaps_overdue(session, today):
        await steps.record_system_step(session, case, CHECKER, "suspend", "suspended",
                                         f"missing materials not received by {case.gaps_due_on}", today, overrides,
                                         contract.CASE_SUSPENDED)
        counts["suspended"] += 1
    counts["default_ratings"] = await ratings.apply_defaults(session, at, today)
    counts["supervised_tickets"] = await tickets.supervise_overdue(session, today, at)
    counts["account_reminders"] = await benefits.remind_missing_accounts(session, at)
    return counts


async def _flag(session: AsyncSession, case: Case, level: str, today: dt.date, overrides: dict[dt.date, bool],
                at: dt.datetime) -> None:
    assert case.deadline_on is not None
    subject = contract.CASE_OVERDUE if level == "red" else contract.CASE_DEADLINE_WARNING
    await outbox.add(session, make_event("cases", subject, contract.CaseDeadlineV1(
        case_id=case.id, case_number=case.case_number, item_basic_code=case.basic_code, department=case.department,
        level=level, deadline_on=case.deadline_on, limit_working_days=clock.total(case),  # type: ignore[arg-type]
        used_working_days=clock.used(case, today, overrides), at=at, state=case.state,
        **steps.origin_fields(case)), subject=str(case.id)))


async def run(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """The periodic task's body: one checker pass in its own transaction."""
    async with sessionmaker() as session, session.begin():
        await check(session, calendar.today())
