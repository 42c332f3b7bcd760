"""Working-day arithmetic for the legal clock, over `tongban.shared.workdays` and this
service's override map (loaded by the caller from the `workday_override` table).

Convention (行政许可法 and the 承诺时限 practice): the day of receipt is not counted; a case
received on a non-working day counts as received on the next working day; the deadline is the
n-th working day after that day.

The map holds the admins' overrides over the imported official schedules (expanded to every day
of their years, see repository.overrides_from). A day of a year nobody has published is
estimated (tongban.shared.workdays): a date computed over one is provisional, never refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import lru_cache

from tongban.shared.workdays import CHINA, ESTIMATE_BASIS, Workdays, today

__all__ = ["CHINA", "today", "is_workday", "receipt_day", "add_working_days", "working_days_between", "add_days",
           "days_between", "provisional_basis"]


# chinese-calendar takes ~40 µs a day and a 15-working-day deadline walks ~20 days, on every
# submission and every case read: the answers are memoised per (arguments, overrides). Its data
# never changes in a running process; the overrides are part of the key, so an admin's change
# is a new key at once.
_MEMO = 16384
Frozen = frozenset[tuple[dt.date, bool]]


def _cal(frozen: Frozen) -> Workdays:
    return Workdays(dict(frozen))


def _key(overrides: Mapping[dt.date, bool]) -> Frozen:
    return frozenset(overrides.items())


@lru_cache(maxsize=_MEMO)
def _is_workday(day: dt.date, frozen: Frozen) -> bool:
    return _cal(frozen).is_workday(day)


@lru_cache(maxsize=_MEMO)
def _receipt_day(day: dt.date, frozen: Frozen) -> dt.date:
    return _cal(frozen).receipt_day(day)


@lru_cache(maxsize=_MEMO)
def _add_working_days(start: dt.date, n: int, frozen: Frozen) -> dt.date:
    return _cal(frozen).add_working_days(start, n)


@lru_cache(maxsize=_MEMO)
def _working_days_between(start: dt.date, end: dt.date, frozen: Frozen) -> int:
    return _cal(frozen).working_days_between(start, end)


def is_workday(day: dt.date, overrides: Mapping[dt.date, bool]) -> bool:
    return _is_workday(day, _key(overrides))


def receipt_day(day: dt.date, overrides: Mapping[dt.date, bool]) -> dt.date:
    """The working day a submission on `day` counts as received on."""
    return _receipt_day(day, _key(overrides))


def add_working_days(start: dt.date, n: int, overrides: Mapping[dt.date, bool]) -> dt.date:
    """The n-th working day after the receipt day of `start` (n = 0: the receipt day itself)."""
    return _add_working_days(start, n, _key(overrides))


def working_days_between(start: dt.date, end: dt.date, overrides: Mapping[dt.date, bool]) -> int:
    """Working days d with start < d <= end (0 when end <= start)."""
    return _working_days_between(start, end, _key(overrides))


def add_days(start: dt.date, n: int, unit: str, overrides: Mapping[dt.date, bool]) -> dt.date:
    """A limit in the unit the catalogue gives: working days, or natural days from the receipt day."""
    if unit == "natural_day":
        return receipt_day(start, overrides) + dt.timedelta(days=n)
    return add_working_days(start, n, overrides)


def days_between(start: dt.date, end: dt.date, unit: str, overrides: Mapping[dt.date, bool]) -> int:
    if unit == "natural_day":
        return max(0, (end - start).days)
    return working_days_between(start, end, overrides)


@lru_cache(maxsize=_MEMO)
def _estimated_years(start: dt.date, end: dt.date, frozen: Frozen) -> tuple[int, ...]:
    return _cal(frozen).estimated_years(start, end)


def provisional_basis(start: dt.date, end: dt.date, overrides: Mapping[dt.date, bool]) -> str | None:
    """Why a date computed over the days from `start` to `end` is provisional, or None when
    every one of those days has an official answer."""
    years = _estimated_years(start, end, _key(overrides))
    if not years:
        return None
    return f"{', '.join(map(str, years))}: {ESTIMATE_BASIS}"
