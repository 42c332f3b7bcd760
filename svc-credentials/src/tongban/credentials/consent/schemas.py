import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from tongban.credentials.identifier import check_type_code
from tongban.credentials.licence.schemas import LicenceRead
from tongban.shared import clock
from tongban.shared.ids import normalize_credit_code


class ConsentCreate(BaseModel):
    """The holder's consent to one use: one licence type, one case, until `expires_at`."""

    model_config = ConfigDict(extra="forbid")

    licence_type_code: str
    case_id: uuid.UUID
    department: str | None = Field(default=None, description="only this department (credit code) may use it")
    expires_at: dt.datetime
    holder_id: Annotated[str | None, Field(max_length=18)] = Field(
        default=None, description="the applicant's resident ID number or credit code: required from a clerk "
                                  "taking a walk-in applicant's consent at the counter; a holder may leave it out")

    _type = field_validator("licence_type_code")(lambda v: check_type_code(v))
    _dept = field_validator("department")(lambda v: normalize_credit_code(v) if v is not None else v)

    @field_validator("expires_at")
    @classmethod
    def _future(cls, v: dt.datetime) -> dt.datetime:
        if v.tzinfo is None:
            raise ValueError("give a time zone")
        now = clock.now()
        if v <= now:
            raise ValueError("must be in the future")
        if v > now + dt.timedelta(days=366):
            raise ValueError("at most a year ahead")
        return v


class ConsentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    licence_type_code: str
    case_id: uuid.UUID
    department: str | None
    expires_at: dt.datetime
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    given_at: Literal["online", "counter"] = Field(description="by the holder, or at a counter before a clerk")
    witnessed_by: str | None = Field(default=None, description="the clerk's account (counter consents)")
    witness_name: str | None = None
    witness_hall: str | None = None
    witness_counter: str | None = None
    given_by: str | None = Field(default=None, description="who gave it: the holder, an agent, or the clerk")
    delegation_id: uuid.UUID | None = Field(default=None, description="the delegation an agent gave it under")


class LicenceUseCreate(BaseModel):
    """A department asks to read a holder's licence for a case, saying why."""

    model_config = ConfigDict(extra="forbid")

    holder_id: str
    licence_type_code: str
    case_id: uuid.UUID
    purpose: Annotated[str, Field(min_length=1, max_length=200)]
    department: Annotated[str | None, Field(pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$")] = Field(
        default=None, description="a service caller (svc-cases, for the department handling the case) names "
                                  "the department it acts for; staff name one of theirs (or leave it out)")
    agent: Annotated[str | None, Field(min_length=1, max_length=200)] = Field(
        default=None, description="a service caller: the account that acted for the holder (an agent)")
    delegation_id: uuid.UUID | None = Field(default=None, description="the agent's delegation (with `agent`)")

    _type = field_validator("licence_type_code")(lambda v: check_type_code(v))


class LicenceUseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    licence_type_code: str
    licence_identifier: str | None
    case_id: uuid.UUID
    actor: str
    department: str | None
    agent: str | None = Field(default=None, description="who acted for the holder (an agent), if anyone")
    delegation_id: uuid.UUID | None = None
    purpose: str
    outcome: Literal["granted", "refused"]
    refusal: str | None
    at: dt.datetime


class LicenceUseGranted(BaseModel):
    use: LicenceUseRead
    licence: LicenceRead
