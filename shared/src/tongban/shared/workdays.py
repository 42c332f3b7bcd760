"""Working-day arithmetic over chinese-calendar plus a service's own override table.

Mechanism only: each service keeps its own overrides (its own table, its own admins) and
passes them in as a `{date: is_working_day}` mapping; no domain convention lives here beyond
the one every Chinese legal time limit uses (the day of receipt is not counted, a day
received on a non-working day counts from the next working day).

`chinese-calendar` knows holidays and make-up working days (调休) only up to the year its
release covers and raises NotImplementedError after that. A date that neither the overrides
nor the package know is an error, never a guess: a guessed holiday moves a legal deadline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Literal

import chinese_calendar

CHINA = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")  # no DST: a fixed offset needs no tzdata
ONE_DAY = dt.timedelta(days=1)
Source = Literal["override", "chinese-calendar"]


class UnknownWorkday(LookupError):
    """Neither the overrides nor chinese-calendar know whether `day` is a working day."""

    def __init__(self, day: dt.date) -> None:
        super().__init__(f"no working-day data for {day.isoformat()}: add an override for it")
        self.day = day


def today() -> dt.date:
    """Today in China (legal days are Beijing-time days, whatever the server's zone)."""
    return dt.datetime.now(CHINA).date()


@lru_cache(maxsize=8192)
def _package_says(day: dt.date) -> bool:
    """chinese-calendar's answer (~40 µs a call, and a deadline walks ~20 days; its data never
    changes in a running process). NotImplementedError for a year it does not know is not cached."""
    return bool(chinese_calendar.is_workday(day))


class Workdays:
    """One calendar: the given overrides first, then chinese-calendar.

    `unknown` builds the exception raised for a date neither knows (default UnknownWorkday),
    so a service can raise its own problem type straight from the arithmetic.
    """

    __slots__ = ("overrides", "unknown")

    def __init__(self, overrides: Mapping[dt.date, bool] | None = None,
                 unknown: Callable[[dt.date], Exception] = UnknownWorkday) -> None:
        self.overrides: Mapping[dt.date, bool] = overrides or {}
        self.unknown = unknown

    def lookup(self, day: dt.date) -> tuple[bool, Source]:
        """(is `day` a working day, which source answered)."""
        if day in self.overrides:
            return bool(self.overrides[day]), "override"
        try:
            return _package_says(day), "chinese-calendar"
        except NotImplementedError as exc:
            raise self.unknown(day) from exc

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
