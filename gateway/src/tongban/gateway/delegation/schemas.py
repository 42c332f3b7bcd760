import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from tongban.shared import clock
from tongban.shared.auth import DELEGATION_ACTIONS
from tongban.shared.ids import normalize_credit_code, normalize_resident_id

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


Action = Literal[DELEGATION_ACTIONS]  # type: ignore[valid-type]


class DelegationCreate(BaseModel):
    """The principal (a company's legal representative or administrator for the company, a
    verified citizen for herself) lets an agent act on the listed items, with the listed actions,
    from `starts_at` (default now) until `expires_at`."""

    model_config = ConfigDict(extra="forbid")

    agent_id: uuid.UUID
    items: list[ItemCode] = Field(min_length=1, max_length=100)
    actions: list[Action] = Field(default_factory=lambda: ["read", "apply"], min_length=1, max_length=10,
                                  description=f"any of {', '.join(DELEGATION_ACTIONS)}")
    starts_at: dt.datetime | None = None
    expires_at: Annotated[dt.datetime, AfterValidator(_future_and_within_a_year)]

    @model_validator(mode="after")
    def _window(self) -> "DelegationCreate":
        if self.starts_at is not None and (self.starts_at.tzinfo is None or self.starts_at >= self.expires_at):
            raise ValueError("starts_at must have a time zone and come before expires_at")
        return self


class DelegationWitness(DelegationCreate):
    """A clerk at a counter records a delegation the principal signed on paper (委托书): who, for
    whom, and the document's reference, which is kept with it."""

    principal_kind: Literal["person", "company"]
    principal_id: str = Field(description="the principal's resident ID number or credit code")
    principal_name: str = Field(min_length=1, max_length=200)
    document_ref: str = Field(min_length=1, max_length=200, description="the written 委托书's reference")

    @model_validator(mode="after")
    def _principal(self) -> "DelegationWitness":
        normalize = normalize_resident_id if self.principal_kind == "person" else normalize_credit_code
        self.principal_id = normalize(self.principal_id)
        return self


class DelegationRevoke(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class DelegationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    principal_kind: str
    principal_id: str
    principal_name: str | None
    credit_code: str | None
    representative_id: uuid.UUID | None
    agent_id: uuid.UUID
    items: list[str]
    actions: list[str]
    starts_at: dt.datetime
    expires_at: dt.datetime
    granted_via: str
    witnessed_by: uuid.UUID | None
    hall: str | None
    document_ref: str | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    revoked_reason: str | None
