import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tongban.credentials.identifier import check_type_code

Reason = Annotated[str, Field(min_length=1, max_length=500)]
EffectiveStatus = Literal["valid", "suspended", "revoked", "expired", "superseded"]


class LicenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type_code: str
    holder_id: str = Field(description="resident ID number (holder type 111) or credit code (001)")
    holder_name: Annotated[str, Field(min_length=1, max_length=200)]
    data: dict[str, Any] = Field(default_factory=dict)
    valid_from: dt.date | None = Field(default=None, description="default: today")
    valid_until: dt.date | None = None
    source_case_id: uuid.UUID | None = Field(
        default=None, description="the approved case whose result this licence is (证照联办), when the department "
                                  "issues it by hand (after `credentials.licence.issue_failed`, say); one licence "
                                  "per case, and the case completes with it")

    _type = field_validator("type_code")(lambda v: check_type_code(v))


class LicenceChange(BaseModel):
    """A change to a licence: issues a new version; what is not given stays as it was."""

    model_config = ConfigDict(extra="forbid")

    holder_name: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    data: dict[str, Any] | None = None
    valid_until: dt.date | None = None
    reason: Reason


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class StatusEntry(BaseModel):
    """W3C Bitstring Status List entry of a licence version."""

    status_purpose: list[Literal["revocation", "suspension"]] = ["revocation", "suspension"]
    status_list_index: int
    status_list_credential: str


class LicenceRead(BaseModel):
    id: uuid.UUID
    identifier: str
    type_code: str
    type_name: str | None = Field(default=None, description="the licence type's name (营业执照), for a wallet to show")
    issuer_code: str
    serial: int
    version: int
    holder_type: Literal["111", "001"]
    holder_id: str
    holder_name: str
    data: dict[str, Any]
    valid_from: dt.date
    valid_until: dt.date | None
    issued_at: dt.datetime
    status: EffectiveStatus
    status_reason: str | None
    superseded_by: uuid.UUID | None
    kid: str
    algorithm: str
    signature: str
    credential_status: StatusEntry


class LicenceStatusRead(BaseModel):
    """What anyone may learn from an identifier: the status and the issuer, no personal data."""

    identifier: str
    status: EffectiveStatus
    issuer_code: str
    type_code: str
    version: int
