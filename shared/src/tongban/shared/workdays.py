"""Working-day arithmetic: a service's overrides, the official schedules, chinese-calendar, and
an estimate for the years nobody has published yet.

Mechanism only: each service keeps its own overrides and official schedules (its own tables,
its own admins) and passes them in as `{date: is_working_day}` mappings; no domain convention
lives here beyond the one every Chinese legal time limit uses (the day of receipt is not
counted, a day received on a non-working day counts from the next working day).

Who answers for a day, first match wins:
1. an override (an admin's word on one date);
2. the official schedule of that year (国务院办公厅 notice, imported by an admin): its holidays
   and adjusted working days (调休), weekdays otherwise;
3. chinese-calendar, for the years its release covers (through 2026 for 1.11);
4. an **estimate**: weekends plus the statutory holidays as the law fixes them (the `holidays`
   package's China calendar, lunar festivals included), without 调休 make-up days, which only
   the yearly notice decides. Measured against chinese-calendar for 2024-2026 it misjudges 5-8
   days a year; weekends alone misjudge 23-27 (tests/test_workdays.py keeps that comparison).
   A deadline that rests on an estimate is *provisional*: computed, stored and shown as such,
   and recomputed when the year's schedule is imported. A resident is never turned away
   because next year's notice has not been typed in yet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import lru_cache
from typing import Literal

import chinese_calendar
import holidays

from tongban.shared import clock
from tongban.shared.clock import CHINA

ONE_DAY = dt.timedelta(days=1)
Source = Literal["override", "official", "chinese-calendar", "estimate"]
ESTIMATE_BASIS = ("weekends and the statutory holidays (holidays package), without make-up working days: "
                  "the year's official schedule is not imported yet")

__all__ = ["CHINA", "ESTIMATE_BASIS", "ONE_DAY", "Source", "Workdays", "package_knows", "today",
           "is_workday", "add_working_days", "working_days_between", "estimate"]


def today() -> dt.date:
    """Today in China (legal days are Beijing-time days, whatever the server's zone)."""
    return clock.today()


@lru_cache(maxsize=8192)
def _package_says(day: dt.date) -> bool:
    """chinese-calendar's answer (~40 µs a call, and a deadline walks ~20 days; its data never
    changes in a running process). NotImplementedError for a year it does not know is not cached."""
    return bool(chinese_calendar.is_workday(day))


@lru_cache(maxsize=64)
def package_knows(year: int) -> bool:
    """Does chinese-calendar know this year's holidays and 调休 days?"""
    try:
        _package_says(dt.date(year, 6, 30))
    except NotImplementedError:
        return False
    return True


@lru_cache(maxsize=64)
def _statutory(year: int) -> frozenset[dt.date]:
    return frozenset(holidays.China(years=year))


def estimate(day: dt.date) -> bool:
    """A working day unless a weekend or a statutory holiday (the provisional rule)."""
    return day.weekday() < 5 and day not in _statutory(day.year)


class Workdays:
    """One calendar: overrides, then official schedules (for the years they cover), then
    chinese-calendar, then the estimate.

    `official` maps each day of an imported year's schedule that differs from the weekday rule
    (holidays False, adjusted working days True); `official_years` says which years it covers.
    """

    __slots__ = ("official", "official_years", "overrides")

    def __init__(self, overrides: Mapping[dt.date, bool] | None = None,
                 official: Mapping[dt.date, bool] | None = None,
                 official_years: frozenset[int] = frozenset()) -> None:
        self.overrides: Mapping[dt.date, bool] = overrides or {}
        self.official: Mapping[dt.date, bool] = official or {}
        self.official_years = official_years

    def lookup(self, day: dt.date) -> tuple[bool, Source]:
        """(is `day` a working day, which source answered)."""
        if day in self.overrides:
            return bool(self.overrides[day]), "override"
        if day.year in self.official_years:
            return bool(self.official.get(day, day.weekday() < 5)), "official"
        if package_knows(day.year):
            return _package_says(day), "chinese-calendar"
        return estimate(day), "estimate"

    def known(self, year: int) -> bool:
        """Is `year` covered by an official source (an imported schedule or chinese-calendar)?"""
        return year in self.official_years or package_knows(year)

    def estimated_years(self, start: dt.date, end: dt.date) -> tuple[int, ...]:
        """The years of the days from `start` to `end` (inclusive) that only the estimate knows:
        a date computed over them is provisional. Empty when every day has an official answer."""
        years: list[int] = []
        day, last = min(start, end), max(start, end)
        while day <= last:
            if self.known(day.year):
                day = dt.date(day.year + 1, 1, 1)   # a whole year is known at once
                continue
            if day not in self.overrides:
                years.append(day.year)
                day = dt.date(day.year + 1, 1, 1)
                continue
            day += ONE_DAY
        return tuple(years)

    def is_workday(self, day: dt.date) -> bool:
        return self.lookup(day)[0]

    def receipt_day(self, day: dt.date) -> dt.date:
        """The working day something received on `day` counts as received on (itself if working)."""
        while not self.is_workday(day):
            day += ONE_DAY
        return day

    def add_working_days(self, start: dt.date, n: int) -> dt.date:
        """The n-th working day after the receipt day of `start` (n = 0: the receipt day itself)."""
        if n < 0:
            raise ValueError("n must not be negative")
        day = self.receipt_day(start)
        while n > 0:
            day += ONE_DAY
            if self.is_workday(day):
                n -= 1
        return day

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days d with start < d <= end (0 when end <= start)."""
        count, day = 0, start
        while day < end:
            day += ONE_DAY
            if self.is_workday(day):
                count += 1
        return count


def is_workday(day: dt.date, overrides: Mapping[dt.date, bool] | None = None) -> bool:
    return Workdays(overrides).is_workday(day)


def add_working_days(start: dt.date, n: int, overrides: Mapping[dt.date, bool] | None = None) -> dt.date:
    return Workdays(overrides).add_working_days(start, n)


def working_days_between(start: dt.date, end: dt.date, overrides: Mapping[dt.date, bool] | None = None) -> int:
    return Workdays(overrides).working_days_between(start, end)


def official_days(year: int, holidays_: frozenset[dt.date], adjusted_workdays: frozenset[dt.date]) -> dict[dt.date, bool]:
    """Every day of `year` under an official schedule: its holidays off, its adjusted working
    days (调休) worked, weekdays worked and weekends off otherwise. Expanded to every day, so a
    calendar holding it answers each day of that year without an estimate."""
    days, day = {}, dt.date(year, 1, 1)
    while day.year == year:
        days[day] = day in adjusted_workdays or (day.weekday() < 5 and day not in holidays_)
        day += ONE_DAY
    return days
