import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tongban.credentials.licence.schemas import EffectiveStatus
from tongban.shared import clock

Region = Annotated[str, Field(pattern=r"^\d{6}$", description="the partner city's region code (GB/T 2260)")]
Purpose = Annotated[str, Field(min_length=1, max_length=200, description="why the holder shows it (audited)")]


class HolderLicenceRead(BaseModel):
    """One licence as a partner city's app lists it for its holder: what it is and whether it
    holds, never its field values (they travel only inside a presentation the holder makes)."""

    id: str
    identifier: str
    type_code: str
    type_name: str
    issuer_code: str
    issuer_name: str
    holder_type: Literal["111", "001"]
    version: int
    status: EffectiveStatus
    valid_from: dt.date
    valid_until: dt.date | None
    issued_at: dt.datetime


class HolderPresentationCreate(BaseModel):
    """A presentation made for the holder by svc-interop, at the request of the partner city
    where the holder is (深中通办): which partner asked, why, and what to show."""

    model_config = ConfigDict(extra="forbid")

    partner: Region
    purpose: Purpose
    fields: Annotated[list[Annotated[str, Field(max_length=64)]] | None, Field(max_length=100)] = Field(
        default=None, description="which data fields to show (and `holder_name`); default: all")
    single_use: bool = Field(default=True, description="a second online verification answers `invalid`")


class HolderPresentationRead(BaseModel):
    id: str
    qr: str = Field(description="the QR payload: TBP1.<base64url RFC 8785 JSON>.<base64url signature>")
    expires_at: dt.datetime
    fields: list[str]
    licence_id: str
    identifier: str
    type_code: str
    issuer_code: str


class PartnerConsentCreate(BaseModel):
    """A resident lets a partner city list her licences (and ask for presentations) for a purpose, until a time."""

    model_config = ConfigDict(extra="forbid")

    partner: Region
    purpose: Purpose
    expires_at: dt.datetime = Field(description="at most 7 days ahead")

    @field_validator("expires_at")
    @classmethod
    def _soon(cls, v: dt.datetime) -> dt.datetime:
        if v.tzinfo is None:
            raise ValueError("give a time zone")
        now = clock.now()
        if v <= now or v > now + dt.timedelta(days=7):
            raise ValueError("must be in the future and at most 7 days ahead")
        return v


class PartnerConsentRead(BaseModel):
    id: str
    token: str = Field(description="TBC1.<base64url RFC 8785 JSON>.<base64url signature>: the partner city's "
                                   "request carries it in X-Holder-Consent")
    partner: str
    purpose: str
    expires_at: dt.datetime
