import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field, model_validator
from tongban.queue.ticket.schemas import CaseId, TicketRead
from tongban.shared.fields import LocalTime


class SlotTemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: str = Field(pattern=r"^[A-Z]$")
    weekday: int = Field(ge=1, le=7, description="ISO weekday, 1 = Monday")
    starts: LocalTime
    ends: LocalTime
    capacity: int = Field(ge=1, le=1000)

    @model_validator(mode="after")
    def _order(self) -> "SlotTemplateCreate":
        if self.ends <= self.starts:
            raise ValueError("ends must be after starts")
        return self


class SlotTemplateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    hall_id: uuid.UUID
    category: str
    weekday: int
    starts: LocalTime
    ends: LocalTime
    capacity: int


class SlotRead(BaseModel):
    template_id: uuid.UUID
    category: str
    day: dt.date
    starts: LocalTime
    ends: LocalTime
    capacity: int
    available: int


class AppointmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template_id: uuid.UUID
    day: dt.date
    case_id: CaseId | None = Field(
        default=None, description="a draft case prefilled in the mini-program: the clerk opens it when calling")


class AppointmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    hall_id: uuid.UUID
    template_id: uuid.UUID
    category: str
    day: dt.date
    starts: LocalTime
    ends: LocalTime
    id_number: str | None
    status: str
    hold_expires_at: dt.datetime | None
    confirmed_at: dt.datetime | None
    checked_in_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    cancel_reason: str | None
    ticket_id: uuid.UUID | None
    case_id: str | None = None
    created_at: dt.datetime


class CheckInRead(BaseModel):
    appointment: AppointmentRead
    ticket: TicketRead


class SweepRead(BaseModel):
    expired_holds: int
    missed: int
    reminded: int
