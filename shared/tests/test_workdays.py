import datetime as dt

import pytest

from tongban.shared import workdays
from tongban.shared.workdays import Workdays

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


def test_a_year_nobody_published_is_estimated_never_refused():
    cal = Workdays()
    assert cal.lookup(D(2027, 3, 1)) == (True, "estimate")
    assert cal.lookup(D(2027, 1, 1)) == (False, "estimate")           # New Year's Day, by the statute
    assert cal.is_workday(D(2027, 2, 8)) is False                     # Spring Festival (lunar, from `holidays`)
    assert cal.add_working_days(D(2026, 12, 30), 5) == D(2027, 1, 7)
    assert cal.estimated_years(D(2026, 12, 30), D(2027, 1, 7)) == (2027,)
    assert cal.estimated_years(D(2026, 1, 1), D(2026, 12, 31)) == ()
    # an override for every needed day makes the next year usable without an estimate
    year_end = {D(2027, 1, d): d not in (1, 2, 3) for d in range(1, 8)}
    assert Workdays(year_end).add_working_days(D(2026, 12, 31), 2) == D(2027, 1, 5)
    assert Workdays(year_end).estimated_years(D(2026, 12, 31), D(2027, 1, 5)) == ()


def test_an_official_schedule_answers_for_its_whole_year():
    days = workdays.official_days(2027, frozenset({D(2027, 10, 1), D(2027, 10, 4)}), frozenset({D(2027, 9, 26)}))
    assert len(days) == 365
    cal = Workdays(official=days, official_years=frozenset({2027}))
    assert cal.lookup(D(2027, 9, 26)) == (True, "official")           # a Sunday worked (调休)
    assert cal.lookup(D(2027, 10, 4)) == (False, "official")
    assert cal.lookup(D(2027, 10, 5)) == (True, "official")           # the notice did not make it a holiday
    assert cal.estimated_years(D(2027, 1, 1), D(2027, 12, 31)) == ()
    assert Workdays({D(2027, 10, 5): False}, days, frozenset({2027})).lookup(D(2027, 10, 5)) == (False, "override")


def test_the_estimate_against_chinese_calendar_day_by_day():
    """Where the statutory-holiday estimate and the published schedules disagree, 2024-2026: every
    one is a day the yearly notice decides (调休 make-up days worked, days joined to a holiday)."""
    differ: dict[int, list[str]] = {}
    for year in (2024, 2025, 2026):
        day = D(year, 1, 1)
        while day.year == year:
            if workdays.estimate(day) != Workdays().is_workday(day):
                differ.setdefault(year, []).append(f"{day.isoformat()} {'worked' if Workdays().is_workday(day) else 'off'}")
            day += dt.timedelta(days=1)
    print("\n".join(f"{y}: {len(d)} days differ: {', '.join(d)}" for y, d in differ.items()))
    assert {y: len(d) for y, d in differ.items()} == {2024: 8, 2025: 5, 2026: 6}
    # weekends alone would misjudge every statutory holiday as well
    weekends_only = sum(1 for y in (2024, 2025, 2026) for i in range(365)
                        if ((D(y, 1, 1) + dt.timedelta(days=i)).weekday() < 5)
                        != Workdays().is_workday(D(y, 1, 1) + dt.timedelta(days=i)))
    assert weekends_only > 60


def test_negative_count_is_refused():
    with pytest.raises(ValueError):
        workdays.add_working_days(D(2026, 11, 2), -1)
