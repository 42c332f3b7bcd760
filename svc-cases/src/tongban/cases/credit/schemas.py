import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ListEntryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    list: Literal["red", "black"]
    source: str = Field(min_length=1, max_length=60)
    reason: str = Field(min_length=1, max_length=500)
    listed_on: dt.date
    until: dt.date | None = None


class ListEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    subject_id: str
    list: str
    source: str
    reason: str
    listed_on: dt.date
    until: dt.date | None
    case_id: uuid.UUID | None
    created_at: dt.datetime


class CreditRead(BaseModel):
    subject_id: str
    level: str = Field(description="the platform's level, A–D")
    effective_level: str = Field(description="D while on a live black-list entry")
    source: str
    fetched_at: dt.datetime
    entries: list[ListEntryRead] = Field(description="the 50 newest list entries")
    commitment_allowed: bool = Field(description="告知承诺制 may be offered")
    waives_gaps: bool = Field(description="容缺 materials may be waived")


class CheckRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    case_id: uuid.UUID
    case_number: str
    subject_id: str
    department: str
    due_on: dt.date
    state: str
    outcome_reason: str | None
    checked_by: str | None
    checked_at: dt.datetime | None


class CheckOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kept: bool = Field(description="false: the commitment was found untrue")
    reason: str = Field(min_length=1, max_length=500)
