import datetime as dt
import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from tongban.shared import clock

ItemCode = Annotated[str, Field(pattern=r"^[0-9A-Za-z]{6,50}$", description="an item's basic code")]
MAX_DAYS = 366


def _future_and_within_a_year(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("give a time zone (e.g. +08:00)")
    now = clock.now()
    if value <= now:
        raise ValueError("must be in the future")
    if value > now + dt.timedelta(days=MAX_DAYS):
        raise ValueError(f"may be at most {MAX_DAYS} days ahead")
    return value


class DelegationCreate(BaseModel):
    """The legal representative lets an agent act on the listed items until `expires_at`."""

    model_config = ConfigDict(extra="forbid")

    agent_id: uuid.UUID
    items: list[ItemCode] = Field(min_length=1, max_length=100)
    expires_at: Annotated[dt.datetime, AfterValidator(_future_and_within_a_year)]


class DelegationRevoke(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class DelegationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    credit_code: str
    representative_id: uuid.UUID
    agent_id: uuid.UUID
    items: list[str]
    expires_at: dt.datetime
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    revoked_reason: str | None
