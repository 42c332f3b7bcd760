import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# `unknown`: a partner city's licence whose status lists could not be had (never for ours).
Result = Literal["valid", "suspended", "revoked", "expired", "superseded", "forged", "invalid", "unknown"]


class PresentationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: Annotated[list[Annotated[str, Field(max_length=64)]] | None, Field(max_length=100)] = Field(
        default=None, description="which data fields to show (and `holder_name`); default: all")
    single_use: bool = Field(default=True, description="a second online verification answers `invalid`")


class PresentationRead(BaseModel):
    id: str
    qr: str = Field(description="the QR payload: TBP1.<base64url RFC 8785 JSON>.<base64url signature>")
    expires_at: dt.datetime
    fields: list[str]


class VerificationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    presentation: Annotated[str, Field(min_length=1, max_length=8000)]


class VerificationResult(BaseModel):
    """The answer to a verifier; carries no personal data beyond what the presentation showed."""

    result: Result
    reason: str
    issuer_code: str | None = None
    issuer_name: str | None = None
    type_code: str | None = None
    identifier: str | None = None
    version: int | None = None
    fields: dict[str, Any] | None = None
    presented_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    issuer_region: str | None = Field(default=None, description="set for a partner city's licence (深中互认): "
                                      "its region code, the issuer's key being on our trust list")
    recognised_as: list[str] | None = Field(default=None, description="a partner licence: our licence types "
                                            "its type stands for (licence-type mapping)")
