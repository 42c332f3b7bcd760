import datetime as dt

from pydantic import BaseModel


class CaseStatistic(BaseModel):
    """Cases decided in the period for one item or department: how many within their legal
    limit, and the working days they took (from receipt to decision, paused days left out)."""

    key: str
    name: str | None = None          # the item's name (group_by=item)
    decided: int
    on_time: int
    on_time_rate: float
    average_working_days: float
    max_working_days: int
    open_overdue: int                 # still open and past the deadline today
    period_from: dt.date
    period_to: dt.date
