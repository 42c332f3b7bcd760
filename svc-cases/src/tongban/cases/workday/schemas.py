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
