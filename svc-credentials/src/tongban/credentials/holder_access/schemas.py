import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from tongban.credentials.licence.schemas import EffectiveStatus

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
