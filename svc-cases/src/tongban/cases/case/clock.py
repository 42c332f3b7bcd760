"""The legal clock of a case, over the working-day calendar.

A case is received on the working day of its submission (or the next one); its deadline is the
limit plus extensions plus paused days after that. While paused (supplement requested, suspended
for missing materials) the deadline is frozen and recomputed on resumption.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from tongban.cases.case.models import Case
from tongban.cases.workday import calendar

RUNNING = frozenset({"submitted", "accepted", "in_review"})


def start(case: Case, today: dt.date, overrides: Mapping[dt.date, bool]) -> None:
    case.received_on = calendar.receipt_day(today, overrides)
    case.paused_since = None
    case.deadline_on = calendar.add_days(case.received_on, case.limit_days, case.limit_unit, overrides)
    mark_basis(case, today, overrides)


def pause(case: Case, today: dt.date) -> None:
    if case.paused_since is None:
        case.paused_since = today


def resume(case: Case, today: dt.date, overrides: Mapping[dt.date, bool]) -> None:
    if case.paused_since is not None:
        case.paused_days += calendar.days_between(case.paused_since, today, case.limit_unit, overrides)
        case.paused_since = None
    _recompute(case, overrides)


def extend(case: Case, days: int, overrides: Mapping[dt.date, bool]) -> None:
    case.extension_days += days
    # A new deadline: the checker warns again against it.
    case.warned_at = case.overdue_at = None
    if case.paused_since is None:
        _recompute(case, overrides)


def _recompute(case: Case, overrides: Mapping[dt.date, bool]) -> None:
    if case.received_on is not None:
        case.deadline_on = calendar.add_days(case.received_on, total(case) + case.paused_days, case.limit_unit,
                                             overrides)
        mark_basis(case, case.received_on, overrides)


def mark_basis(case: Case, since: dt.date, overrides: Mapping[dt.date, bool]) -> None:
    """Record whether the deadline rests on estimated days (a year without an official schedule)."""
    if case.deadline_on is None:
        case.deadline_basis = None
        return
    case.deadline_basis = calendar.provisional_basis(since, case.deadline_on, overrides)


def recompute(case: Case, overrides: Mapping[dt.date, bool]) -> bool:
    """Recompute a running or paused case's deadline against a changed calendar; True if it moved
    or stopped being provisional."""
    before = (case.deadline_on, case.deadline_basis)
    if case.paused_since is None:
        _recompute(case, overrides)
    elif case.received_on is not None:
        mark_basis(case, case.received_on, overrides)
    return (case.deadline_on, case.deadline_basis) != before


def total(case: Case) -> int:
    return case.limit_days + case.extension_days


def used(case: Case, today: dt.date, overrides: Mapping[dt.date, bool]) -> int:
    """Days of the limit used so far (paused days do not count)."""
    if case.received_on is None:
        return 0
    until = case.paused_since or today
    return max(0, calendar.days_between(case.received_on, until, case.limit_unit, overrides) - case.paused_days)


def remaining(case: Case, today: dt.date, overrides: Mapping[dt.date, bool]) -> int | None:
    """Days left before the deadline (negative once overdue); None when no clock runs."""
    if case.received_on is None or case.deadline_on is None or case.state not in RUNNING | {"supplement_requested",
                                                                                             "suspended"}:
        return None
    if case.paused_since is not None:
        return total(case) - used(case, today, overrides)
    if today <= case.deadline_on:
        return calendar.days_between(today, case.deadline_on, case.limit_unit, overrides)
    return -calendar.days_between(case.deadline_on, today, case.limit_unit, overrides)


def warning_due(case: Case, today: dt.date, overrides: Mapping[dt.date, bool]) -> bool:
    """Yellow: 80 % of the limit used."""
    t = total(case)
    return t > 0 and used(case, today, overrides) * 5 >= t * 4
