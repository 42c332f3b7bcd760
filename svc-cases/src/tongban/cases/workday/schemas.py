import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class WorkdayOverrideUpdate(BaseModel):
    is_workday: bool
    reason: str = Field(min_length=1, max_length=200, examples=["2027 国务院办公厅放假安排"])


class WorkdayOverrideRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    on_date: dt.date
    is_workday: bool
    reason: str
    updated_by: str
    updated_at: dt.datetime


class DeadlineRead(BaseModel):
    start: dt.date
    received_on: dt.date
    working_days: int
    deadline_on: dt.date
    deadline_provisional: bool = False
    deadline_basis: str | None = Field(default=None, description="why the deadline is provisional")


class ScheduleCreate(BaseModel):
    """A year's official schedule as the State Council's notice publishes it."""

    notice_number: str = Field(min_length=1, max_length=100, examples=["国办发明电〔2026〕7号"])
    notice_date: dt.date = Field(examples=["2026-11-04"])
    holidays: list[dt.date] = Field(max_length=366, description="days off (法定节假日 and the days joined to them)")
    adjusted_workdays: list[dt.date] = Field(default_factory=list, max_length=366,
                                             description="调休: weekend days worked")


class ScheduleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    year: int
    notice_number: str
    notice_date: dt.date
    holidays: list[dt.date]
    adjusted_workdays: list[dt.date]
    revision: int
    imported_by: str
    imported_at: dt.datetime


class CalendarStatus(BaseModel):
    """Which years the calendar knows officially, and whether next year's schedule is missing."""

    today: dt.date
    official_years: list[int] = Field(description="years with an imported schedule")
    package_years_until: int = Field(description="chinese-calendar knows every year up to this one")
    next_year: int
    next_year_missing: bool
    estimate: str = Field(description="how a day of an unknown year is judged (provisional)")
