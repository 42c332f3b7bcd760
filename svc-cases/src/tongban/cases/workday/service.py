"""The working-day calendar: chinese-calendar plus the admins' override table."""

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.db import audit
from tongban.cases.workday import calendar, repository
from tongban.cases.workday.models import WorkdayOverride
from tongban.cases.workday.schemas import DeadlineRead, WorkdayOverrideUpdate
from tongban.shared.auth import Principal


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
    await repository.delete(session, row)
    await audit.record(session, actor, "workday.remove", "workday_override", day.isoformat())
    return True


async def deadline(session: AsyncSession, start: dt.date, working_days: int) -> DeadlineRead:
    """The deadline `working_days` working days after a submission on `start`."""
    overrides = await repository.overrides_from(session, start)
    return DeadlineRead(start=start, received_on=calendar.receipt_day(start, overrides), working_days=working_days,
                        deadline_on=calendar.add_working_days(start, working_days, overrides))
