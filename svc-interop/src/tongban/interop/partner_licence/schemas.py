"""`credentials.present` on the wire (both sides) and the resident's view of it.

The holder's ID number or credit code travels only in the signed body (the on-behalf-of header
carries it masked, as every exchange does)."""

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

HolderId = Annotated[str, Field(min_length=15, max_length=18, pattern=r"^[0-9A-Za-z]+$",
                                description="resident ID number or unified social credit code")]
LicenceRef = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[0-9A-Za-z.\-]+$",
                                  description="licence identifier (GB/T 36904) or id")]
Purpose = Annotated[str, Field(min_length=1, max_length=200, description="why the holder shows it (audited)")]
Fields = Annotated[list[Annotated[str, Field(max_length=64)]] | None, Field(max_length=100)]
Status = Literal["valid", "suspended", "revoked", "expired", "superseded"]
Consent = Annotated[str, Field(min_length=1, max_length=4000, pattern=r"^TBC1\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+$",
                               description="the holder's consent for the asking city (TBC1, signed by the "
                                           "asking city's svc-credentials); the holding city checks it")]


class HolderLicencesAsk(BaseModel):
    """`credentials.present` (list): the partner asks for its resident's licences issued here."""

    model_config = ConfigDict(extra="forbid")

    holder_id: HolderId
    consent: Consent
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0)


class PresentationAsk(BaseModel):
    """`credentials.present` (present): a presentation of one of the resident's licences issued here."""

    model_config = ConfigDict(extra="forbid")

    holder_id: HolderId
    consent: Consent
    licence: LicenceRef
    purpose: Purpose
    fields: Fields = None
    single_use: bool = True


class LicenceSummary(BaseModel):
    """A licence as the issuing city lists it for its holder: no field values."""

    model_config = ConfigDict(extra="ignore")

    identifier: str
    type_code: str
    type_name: str
    issuer_code: str
    issuer_name: str
    holder_type: Literal["111", "001"]
    version: int
    status: Status
    valid_from: dt.date
    valid_until: dt.date | None
    issued_at: dt.datetime


class LicencePage(BaseModel):
    items: list[LicenceSummary]
    total: int
    limit: int
    offset: int
    next_offset: int | None


class PresentationMade(BaseModel):
    """A presentation the issuing city made: its QR payload verifies anywhere that trusts the
    issuer's keys (offline), or online at the issuing city."""

    model_config = ConfigDict(extra="ignore")

    id: str
    qr: str
    expires_at: dt.datetime
    fields: list[str]
    identifier: str
    type_code: str
    issuer_code: str


class PartnerLicenceRead(LicenceSummary):
    partner: str = Field(description="the issuing partner city (region code)")


class PartnerLicencePage(BaseModel):
    items: list[PartnerLicenceRead]
    total: int
    limit: int
    offset: int
    next_offset: int | None


class PartnerPresentationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: Purpose
    fields: Fields = Field(default=None, description="which data fields to show (and `holder_name`); default: all")
    single_use: bool = Field(default=True, description="a second online verification answers `invalid`")


class PartnerPresentationRead(PresentationMade):
    partner: str = Field(description="the issuing partner city (region code)")
