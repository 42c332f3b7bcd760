"""Working-day arithmetic for the legal clock (pure functions over a loaded override map).

Convention (行政许可法 and the 承诺时限 practice): the day of receipt is not counted; a case
received on a non-working day counts as received on the next working day; the deadline is the
n-th working day after that day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import chinese_calendar

from tongban.cases.workday.errors import UnknownCalendarDate

CHINA = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")  # no DST: a fixed offset needs no tzdata
ONE_DAY = dt.timedelta(days=1)


def today() -> dt.date:
    return dt.datetime.now(CHINA).date()


def is_workday(day: dt.date, overrides: Mapping[dt.date, bool]) -> bool:
    if day in overrides:
        return overrides[day]
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError as exc:
        raise UnknownCalendarDate(day) from exc


def receipt_day(day: dt.date, overrides: Mapping[dt.date, bool]) -> dt.date:
    """The working day a submission on `day` counts as received on."""
    while not is_workday(day, overrides):
        day += ONE_DAY
    return day


def add_working_days(start: dt.date, n: int, overrides: Mapping[dt.date, bool]) -> dt.date:
    """The n-th working day after the receipt day of `start` (n = 0: the receipt day itself)."""
    day = receipt_day(start, overrides)
    while n > 0:
        day += ONE_DAY
        if is_workday(day, overrides):
            n -= 1
    return day


def working_days_between(start: dt.date, end: dt.date, overrides: Mapping[dt.date, bool]) -> int:
    """Working days d with start < d <= end (0 when end <= start)."""
    count, day = 0, start
    while day < end:
        day += ONE_DAY
        if is_workday(day, overrides):
            count += 1
    return count


def add_days(start: dt.date, n: int, unit: str, overrides: Mapping[dt.date, bool]) -> dt.date:
    """A limit in the unit the catalogue gives: working days, or natural days from the receipt day."""
    if unit == "natural_day":
        return receipt_day(start, overrides) + dt.timedelta(days=n)
    return add_working_days(start, n, overrides)


def days_between(start: dt.date, end: dt.date, unit: str, overrides: Mapping[dt.date, bool]) -> int:
    if unit == "natural_day":
        return max(0, (end - start).days)
    return working_days_between(start, end, overrides)
