"""Working-day arithmetic for the legal clock, over `tongban.shared.workdays` and this
service's override map (loaded by the caller from the `workday_override` table).

Convention (行政许可法 and the 承诺时限 practice): the day of receipt is not counted; a case
received on a non-working day counts as received on the next working day; the deadline is the
n-th working day after that day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from tongban.cases.workday.errors import UnknownCalendarDate
from tongban.shared.workdays import CHINA, Workdays, today

__all__ = ["CHINA", "UnknownCalendarDate", "today", "is_workday", "receipt_day", "add_working_days",
           "working_days_between", "add_days", "days_between"]


def _cal(overrides: Mapping[dt.date, bool]) -> Workdays:
    return Workdays(overrides, unknown=UnknownCalendarDate)


def is_workday(day: dt.date, overrides: Mapping[dt.date, bool]) -> bool:
    return _cal(overrides).is_workday(day)


def receipt_day(day: dt.date, overrides: Mapping[dt.date, bool]) -> dt.date:
    """The working day a submission on `day` counts as received on."""
    return _cal(overrides).receipt_day(day)


def add_working_days(start: dt.date, n: int, overrides: Mapping[dt.date, bool]) -> dt.date:
    """The n-th working day after the receipt day of `start` (n = 0: the receipt day itself)."""
    return _cal(overrides).add_working_days(start, n)


def working_days_between(start: dt.date, end: dt.date, overrides: Mapping[dt.date, bool]) -> int:
    """Working days d with start < d <= end (0 when end <= start)."""
    return _cal(overrides).working_days_between(start, end)


def add_days(start: dt.date, n: int, unit: str, overrides: Mapping[dt.date, bool]) -> dt.date:
    """A limit in the unit the catalogue gives: working days, or natural days from the receipt day."""
    cal = _cal(overrides)
    if unit == "natural_day":
        return cal.receipt_day(start) + dt.timedelta(days=n)
    return cal.add_working_days(start, n)


def days_between(start: dt.date, end: dt.date, unit: str, overrides: Mapping[dt.date, bool]) -> int:
    if unit == "natural_day":
        return max(0, (end - start).days)
    return _cal(overrides).working_days_between(start, end)
