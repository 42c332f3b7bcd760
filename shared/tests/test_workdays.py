import datetime as dt

import pytest

from tongban.shared import workdays
from tongban.shared.workdays import UnknownWorkday, Workdays

D = dt.date


def test_fifteen_working_days_over_national_day():
    # 2026-09-25 is Mid-Autumn (a holiday): received on Monday 28th; Oct 1-7 off, the
    # make-up Saturdays count: the 15th working day after receipt is 2026-10-23.
    assert workdays.add_working_days(D(2026, 9, 25), 15) == D(2026, 10, 23)


def test_make_up_saturday_and_holiday_from_the_package():
    cal = Workdays()
    assert cal.lookup(D(2026, 10, 1)) == (False, "chinese-calendar")
    assert cal.is_workday(D(2026, 9, 20)) is True  # 调休: a Sunday worked
    assert cal.receipt_day(D(2026, 10, 1)) == D(2026, 10, 8)
    assert cal.add_working_days(D(2026, 10, 9), 0) == D(2026, 10, 9)


def test_overrides_win_over_the_package():
    cal = Workdays({D(2026, 10, 9): False, D(2026, 10, 10): True})
    assert cal.lookup(D(2026, 10, 9)) == (False, "override")
    assert cal.is_workday(D(2026, 10, 10)) is True
    assert cal.working_days_between(D(2026, 10, 8), D(2026, 10, 12)) == 2  # Sat 10th + Mon 12th


def test_working_days_between_excludes_start_and_counts_end():
    assert workdays.working_days_between(D(2026, 11, 2), D(2026, 11, 9)) == 5
    assert workdays.working_days_between(D(2026, 11, 9), D(2026, 11, 2)) == 0


def test_unknown_date_is_loud_with_default_or_own_error():
    with pytest.raises(UnknownWorkday) as err:
        workdays.is_workday(D(2027, 3, 1))
    assert err.value.day == D(2027, 3, 1)

    class Mine(Exception):
        def __init__(self, day):
            self.day = day

    with pytest.raises(Mine):
        Workdays({}, unknown=Mine).add_working_days(D(2026, 12, 30), 5)
    # an override for every needed day makes the next year usable
    year_end = {D(2027, 1, d): d not in (1, 2, 3) for d in range(1, 8)}
    assert Workdays(year_end).add_working_days(D(2026, 12, 31), 2) == D(2027, 1, 5)


def test_negative_count_is_refused():
    with pytest.raises(ValueError):
        workdays.add_working_days(D(2026, 11, 2), -1)
