import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PHONE = r"^[0-9+\-]{5,20}$"


class Caller(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(default=None, pattern=PHONE)


class HotlineTicket(BaseModel):
    """A 12345 hotline ticket as it crosses between the cities."""

    model_config = ConfigDict(extra="forbid")

    ticket_number: str = Field(min_length=1, max_length=40, description="the referring city's ticket number")
    category: str = Field(min_length=1, max_length=100)
    summary: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1, max_length=4000)
    caller: Caller


class ReferralCreate(HotlineTicket):
    """A hotline ticket here that belongs to the partner city: refer it there."""

    partner: str = Field(pattern=r"^\d{6}$")


class HotlineReferral(HotlineTicket):
    """The wire body of `hotline.refer` (city A → city B)."""

    model_config = ConfigDict(extra="ignore")

    referral_ref: uuid.UUID = Field(description="A's referral id: the same ref sent again is the same referral")
    reference_number: str = Field(min_length=1, max_length=60)


class ReferralAck(BaseModel):
    reference_number: str
    status: str
    received_at: dt.datetime


class ReferralRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    reference_number: str
    kind: str
    direction: str
    partner: str
    partner_ref: str
    payload: dict[str, Any]
    status: str
    progress: list[dict[str, Any]]
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


class ReferralStatusChange(BaseModel):
    """The wire body of `hotline.status` (the handling city → the referring city)."""

    model_config = ConfigDict(extra="ignore")

    referral_ref: uuid.UUID = Field(description="the referring city's referral id, as sent in hotline.refer")
    reference_number: str = Field(min_length=1, max_length=60, description="the handling city's reference number")
    ticket_number: str | None = Field(default=None, max_length=40, description="the handling city's ticket")
    status: Literal["replied", "closed", "reopened"]
    reply: str | None = Field(default=None, max_length=4000)
    changed_at: dt.datetime


class ReferralStatusAck(BaseModel):
    reference_number: str
    status: str
