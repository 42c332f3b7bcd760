import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tongban.credentials.signing import algorithms
from tongban.shared.ids import CREDIT_ALPHABET

RegionCode = Annotated[str, Field(pattern=r"^\d{6}$", description="GB/T 2260 region code, e.g. 440300 (深圳市)")]
TypeCode = Annotated[str, Field(pattern=r"^[0-9A-Za-z-]{1,40}$")]


class TrustedKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kid: Annotated[str, Field(pattern=r"^[0-9A-Za-z._:-]{1,64}$")]
    issuer_code: Annotated[str, Field(pattern=rf"^[{CREDIT_ALPHABET}]{{18}}$")]
    algorithm: Literal["Ed25519", "SM2"]
    public_key: str = Field(description="base64url of the raw key, as GET /keys publishes it (`public_key`): "
                                        "Ed25519 32 bytes; SM2 65 bytes, 0x04‖x‖y")
    status: Literal["active", "retired"] = Field(default="active", description="as the partner publishes it")

    @model_validator(mode="after")
    def _key(self) -> "TrustedKeyIn":
        try:
            raw = algorithms.unb64u(self.public_key)
        except ValueError:
            raise ValueError("public_key is not base64url") from None
        if not algorithms.valid_public_key(self.algorithm, raw):
            raise ValueError(f"public_key is not an {self.algorithm} public key")
        return self

    @property
    def raw(self) -> bytes:
        return algorithms.unb64u(self.public_key)


class TrustedIssuersPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100)]
    keys: Annotated[list[TrustedKeyIn], Field(max_length=1000)]
    status_list_url: Annotated[str | None, Field(max_length=500, pattern=r"^https?://[^\s]*\{list\}[^\s]*$")] = Field(
        default=None, description="where the partner publishes its signed status lists, `{list}` standing for the "
        "list id a presentation names (e.g. https://sz.example/api/v1/credentials/status-lists/{list}); `purpose` "
        "is added as a query parameter. Left out: kept as it was; null: removed (its presentations then verify as "
        "`unknown`)")

    @field_validator("keys")
    @classmethod
    def _unique(cls, keys: list[TrustedKeyIn]) -> list[TrustedKeyIn]:
        if len({k.kid for k in keys}) != len(keys):
            raise ValueError("each kid once")
        return keys


class TrustedKeyRead(BaseModel):
    kid: str
    issuer_code: str
    algorithm: str
    public_key: str
    status: Literal["active", "retired"]
    created_at: dt.datetime
    retired_at: dt.datetime | None


class TrustedRegionRead(BaseModel):
    region_code: str
    name: str
    status_list_url: str | None
    updated_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    keys: list[TrustedKeyRead]


class MappingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region_code: RegionCode
    partner_type_code: TypeCode
    partner_type_name: Annotated[str, Field(min_length=1, max_length=200)]
    our_type_code: TypeCode
    note: Annotated[str | None, Field(max_length=500)] = None


class MappingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    region_code: str
    partner_type_code: str
    partner_type_name: str
    our_type_code: str
    note: str | None
    created_by: str
    created_at: dt.datetime


class Satisfaction(BaseModel):
    """Whether a licence of `type_code` satisfies a material asking for `required_type_code`."""

    type_code: str
    required_type_code: str
    satisfies: bool
    reason: str
    via: MappingRead | None = None
