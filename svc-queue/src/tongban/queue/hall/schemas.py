import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from tongban.shared.fields import LocalTime

Name = Annotated[str, Field(min_length=1, max_length=200)]
CategoryCode = Annotated[str, Field(pattern=r"^[A-Z]$", description="one capital letter: the number prefix")]


class OpeningHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opens: LocalTime
    closes: LocalTime

    @model_validator(mode="after")
    def _order(self) -> "OpeningHours":
        if self.closes <= self.opens:
            raise ValueError("closes must be after opens")
        return self


class CategoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: CategoryCode
    name: Annotated[str, Field(min_length=1, max_length=100)]


class CategoryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str


def _check_hours(value: dict[int, OpeningHours]) -> dict[int, OpeningHours]:
    bad = [d for d in value if not 1 <= d <= 7]
    if bad:
        raise ValueError(f"weekdays are 1 (Monday) to 7 (Sunday), not {bad}")
    return value


class HallCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    region_code: str = Field(pattern=r"^\d{6}$", examples=["442000"])
    address: Annotated[str, Field(min_length=1, max_length=500)]
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    opening_hours: dict[int, OpeningHours] = Field(description="ISO weekday (1 = Monday) → hours on working days")
    open_on_rest_days: bool = Field(default=False, description="全年无休: also open on weekends and public holidays, "
                                                               "by that weekday's hours")
    categories: list[CategoryCreate] = Field(default_factory=list, max_length=26)

    _hours = field_validator("opening_hours")(_check_hours)

    @field_validator("categories")
    @classmethod
    def _unique_codes(cls, value: list[CategoryCreate]) -> list[CategoryCreate]:
        if len({c.code for c in value}) != len(value):
            raise ValueError("category codes must be unique")
        return value


class HallUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    address: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    opening_hours: dict[int, OpeningHours] | None = None
    open_on_rest_days: bool | None = None

    _hours = field_validator("opening_hours")(lambda v: v if v is None else _check_hours(v))


class HallRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    region_code: str
    address: str
    latitude: float
    longitude: float
    opening_hours: dict[int, OpeningHours]
    open_on_rest_days: bool = False
    categories: list[CategoryRead] = Field(default_factory=list)
    created_at: dt.datetime
    updated_at: dt.datetime


class ClosureCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: dt.datetime
    ends_at: dt.datetime
    reason: Annotated[str, Field(min_length=1, max_length=1000)]

    @model_validator(mode="after")
    def _order(self) -> "ClosureCreate":
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("give starts_at and ends_at with a time zone offset")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class ClosureRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    hall_id: uuid.UUID
    starts_at: dt.datetime
    ends_at: dt.datetime
    reason: str
    cancelled_appointments: int = 0
    cancelled_tickets: int = 0


class CalendarOverrideCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: dt.date
    is_working_day: bool
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class CalendarOverrideRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    day: dt.date
    is_working_day: bool
    reason: str


class DayRead(BaseModel):
    day: dt.date
    is_working_day: bool
    source: str = Field(description="override, official (the imported schedule), chinese-calendar or estimate")
    provisional: bool = Field(default=False, description="estimated: the year's official schedule is not imported yet")
