"""Staff statistics of the legal clock: on-time rate and working days taken, per item or
department (approvers: their own department only)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from itertools import accumulate

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.statistics import repository
from tongban.cases.statistics.schemas import CaseStatistic
from tongban.cases.workday import calendar
from tongban.cases.workday import repository as workdays
from tongban.shared.auth import Principal
from tongban.shared.errors import InvalidField

MAX_PERIOD_DAYS = 366


async def case_statistics(session: AsyncSession, p: Principal, group_by: str, start: dt.date | None,
                          end: dt.date | None, today: dt.date | None = None) -> list[CaseStatistic]:
    today = today or calendar.today()
    end = end or today
    start = start or end - dt.timedelta(days=29)
    if start > end:
        raise InvalidField("from", "must not be after `to`")
    if (end - start).days >= MAX_PERIOD_DAYS:
        raise InvalidField("from", f"a period is at most {MAX_PERIOD_DAYS} days")
    rows = await repository.decided(session, p, group_by, start, end)
    overdue = await repository.open_overdue(session, p, group_by, today)
    groups: dict[str, list[tuple[int, bool]]] = defaultdict(list)
    names: dict[str, str] = {}
    if rows:
        first = min(r.received_on for r in rows)
        last = max(max(r.decided_on for r in rows), first)
        overrides = await workdays.overrides_from(session, first)
        # Working days counted once over the whole span: cum[i] = working days in (first, first+i].
        days = [calendar.is_workday(first + dt.timedelta(days=i), overrides) for i in range(1, (last - first).days + 1)]
        cum = [0, *accumulate(int(d) for d in days)]
        for r in rows:
            taken = cum[(r.decided_on - first).days] - cum[(r.received_on - first).days] if r.decided_on > r.received_on \
                else 0
            on_time = r.deadline_on is None or r.decided_on <= r.deadline_on
            groups[r.key].append((max(0, taken - (r.paused_days or 0)), on_time))
            names.setdefault(r.key, r.item_name)
    out = []
    for key in sorted(set(groups) | set(overdue)):
        g = groups.get(key, [])
        n, ok = len(g), sum(1 for _, t in g if t)
        out.append(CaseStatistic(
            key=key, name=names.get(key) if group_by == "item" else None, decided=n, on_time=ok,
            on_time_rate=round(ok / n, 4) if n else 0.0,
            average_working_days=round(sum(d for d, _ in g) / n, 2) if n else 0.0,
            max_working_days=max((d for d, _ in g), default=0), open_overdue=overdue.get(key, 0),
            period_from=start, period_to=end))
    return out
