import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Algorithm = Literal["Ed25519", "SM2"]


class IssuerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)]
    algorithm: Algorithm = Field(default="Ed25519", description="Ed25519, or SM2 with SM3 (国密)")


class IssuerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    algorithm: Algorithm
    created_at: dt.datetime
    updated_at: dt.datetime


class KeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kid: str
    issuer_code: str
    algorithm: Algorithm
    status: str
    created_at: dt.datetime
    retired_at: dt.datetime | None


class KeySet(BaseModel):
    """JWKS-like: every issuer key, active and retired (retired keys still verify old signatures)."""

    keys: list[dict[str, str]]
