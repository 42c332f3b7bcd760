import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

GreenReason = Literal["elderly", "disabled", "cross_city"]
# A case of svc-cases (its id or its number); svc-queue keeps it for the clerk, it does not read it.
CaseId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]


class TicketCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: str = Field(pattern=r"^[A-Z]$")
    item_code: str | None = Field(default=None, pattern=r"^\d{12}$")
    green_reason: GreenReason | None = Field(
        default=None, description="green channel; clerks set it on site (citizens of 60+ get it by their ID)")
    case_id: CaseId | None = Field(default=None, description="a draft case prefilled in the mini-program")


class CallNext(BaseModel):
    model_config = ConfigDict(extra="forbid")

    previous: Literal["done", "no_show"] = Field(
        default="done", description="how to close the ticket still at the counter, if any")


class CaseLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_id: CaseId | None = None


class Transfer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: str | None = Field(default=None, pattern=r"^[A-Z]$")
    counter_id: uuid.UUID | None = None
    reason: Annotated[str, Field(max_length=500)] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> "Transfer":
        if (self.category is None) == (self.counter_id is None):
            raise ValueError("give either category or counter_id")
        return self


class RatingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5)
    comment: Annotated[str, Field(max_length=1000)] | None = None


class TicketRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    hall_id: uuid.UUID
    day: dt.date
    number: str
    category: str
    item_code: str | None
    priority: int
    priority_reason: str | None
    channel: str
    id_number: str | None
    status: str
    counter_id: uuid.UUID | None
    target_counter_id: uuid.UUID | None
    case_id: str | None
    call_count: int
    rating: int | None
    queued_at: dt.datetime
    called_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    ahead: int | None = Field(default=None, description="waiting tickets before this one (waiting tickets only)")
    estimated_wait_seconds: float | None = None
