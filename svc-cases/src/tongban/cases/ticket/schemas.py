import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Category = Literal["consultation", "complaint", "help", "suggestion", "unresolved"]
TicketAction = Literal["dispatch", "handle", "reply", "close", "reopen"]


class TicketCreate(BaseModel):
    category: Category
    content: str = Field(min_length=1, max_length=5000)
    contact_name: str | None = Field(default=None, max_length=100)
    contact_phone: str | None = Field(default=None, pattern=r"^1[3-9]\d{9}$|^0\d{2,3}-?\d{7,8}$")
    citizen_id: str | None = Field(default=None, description="a clerk's ticket: the caller's resident ID, if known")
    case_id: uuid.UUID | None = None


class TicketAct(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department: str | None = Field(default=None, description="dispatch: the department's credit code")
    reply: str | None = Field(default=None, max_length=5000)
    satisfaction: Literal["satisfied", "basically_satisfied", "unsatisfied"] | None = None
    reason: str | None = Field(default=None, max_length=2000)


class TicketRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    ticket_number: str
    source: str
    category: str
    citizen_id: str | None
    contact_name: str
    contact_phone: str | None
    content: str
    case_id: uuid.UUID | None
    department: str | None
    state: str
    limit_working_days: int
    received_on: dt.date
    due_on: dt.date
    reply: str | None
    satisfaction: str | None
    reopened: int
    supervised_at: dt.datetime | None
    replied_at: dt.datetime | None
    closed_at: dt.datetime | None
    created_at: dt.datetime
    referral_id: uuid.UUID | None = Field(default=None, description="svc-interop's referral (source partner)")
    partner_region: str | None = None
    partner_ticket_number: str | None = None
    partner_category: str | None = Field(default=None, description="the partner's own category wording")


class HotlinePolicy(BaseModel):
    """Deadlines per category in working days, and how long after closing a ticket may be reopened."""

    limits: dict[str, int] = Field(default_factory=lambda: {"consultation": 2, "complaint": 4, "help": 4,
                                                             "suggestion": 4, "unresolved": 4})
    default_limit: int = Field(default=4, ge=1, le=60)
    reopen_days: int = Field(default=7, ge=0, le=90, description="natural days after closing")
