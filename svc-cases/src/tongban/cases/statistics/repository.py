import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.case.clock import RUNNING
from tongban.cases.case.models import Case
from tongban.cases.case.repository import visible_to
from tongban.shared.auth import Principal

CHINA_TZ = "Asia/Shanghai"


def _key(group_by: str) -> Any:
    return Case.basic_code if group_by == "item" else Case.department


async def decided(session: AsyncSession, p: Principal, group_by: str, start: dt.date, end: dt.date) -> list[Any]:
    """(key, name, received_on, decided_on, deadline_on, paused_days) of the cases decided from
    `start` to `end` (Beijing dates) that the caller may see."""
    decided_on = func.date(func.timezone(CHINA_TZ, Case.decided_at))
    stmt = (select(_key(group_by).label("key"), Case.item_name, Case.received_on, decided_on.label("decided_on"),
                   Case.deadline_on, Case.paused_days)
            .where(visible_to(p, "statistics.read"), Case.decided_at.is_not(None), Case.received_on.is_not(None),
                   decided_on >= start, decided_on <= end))
    return list((await session.execute(stmt)).all())


async def open_overdue(session: AsyncSession, p: Principal, group_by: str, today: dt.date) -> dict[str, int]:
    key = _key(group_by)
    stmt = (select(key, func.count()).where(visible_to(p, "statistics.read"), Case.state.in_(RUNNING), Case.deadline_on < today)
            .group_by(key))
    return {k: n for k, n in (await session.execute(stmt)).all()}
