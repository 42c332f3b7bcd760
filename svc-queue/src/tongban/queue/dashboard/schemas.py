import datetime as dt
import uuid

from pydantic import BaseModel


class HallFigures(BaseModel):
    hall_id: uuid.UUID
    name: str
    open: bool
    counters_open: int
    waiting: int
    longest_wait_seconds: int | None
    tickets: int
    served: int
    tickets_last_hour: int
    appointments: int
    appointments_kept: int
    appointments_missed: int


class DepartmentFigures(BaseModel):
    department: str
    received: int
    decided: int
    instant: int
    on_time: int
    on_time_rate: float | None          # on time / decided, None when nothing was decided today
    warned: int
    overdue: int
    ratings: int
    good: int
    bad: int
    bad_open: int


class HourCount(BaseModel):
    hour: int
    tickets: int


class Totals(BaseModel):
    waiting: int
    counters_open: int
    tickets: int
    served: int
    appointments_kept: int
    appointments_missed: int
    received: int
    decided: int
    instant: int
    on_time_rate: float | None
    overdue: int
    warned: int
    ratings: int
    good_rate: float | None
    bad_open: int


class Dashboard(BaseModel):
    """The city at a glance: halls from svc-queue's own tables, cases and ratings from the read
    model of svc-cases' events. Counts only: no person, no ID number."""

    day: dt.date
    at: dt.datetime
    totals: Totals
    halls: list[HallFigures]
    departments: list[DepartmentFigures]
    tickets_per_hour: list[HourCount]
