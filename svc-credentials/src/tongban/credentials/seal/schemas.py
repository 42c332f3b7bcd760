import datetime as dt
import re
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SealKind = Literal["legal_name", "finance", "contract", "invoice"]
HashAlgorithm = Literal["SM3", "SHA-256"]
Reason = Annotated[str, Field(min_length=1, max_length=500)]
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def _hash(value: str) -> str:
    if not _HEX64.fullmatch(value):
        raise ValueError("a 256-bit digest as 64 hex digits (SM3 or SHA-256 of the document)")
    return value.lower()


class SealCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: SealKind
    company_name: Annotated[str, Field(min_length=1, max_length=200)]
    company_code: str | None = Field(default=None, description="admins only; a company user's own company otherwise")
    algorithm: Literal["SM2", "Ed25519"] = Field(default="SM2", description="SM2 with SM3 (国密, default) or Ed25519")


class SealRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    company_code: str
    company_name: str
    kind: SealKind
    name: str
    kid: str
    algorithm: str
    status: Literal["active", "revoked"]
    source: Literal["registration", "request"]
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    revoked_reason: str | None


class SealRevoke(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class DelegationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grantee_sub: Annotated[str, Field(min_length=1, max_length=200, description="the staff member's account id")]
    grantee_name: Annotated[str, Field(min_length=1, max_length=100)]
    expires_at: dt.datetime = Field(description="timezone-aware; at most a year ahead")

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("give a timezone (e.g. +08:00 or Z)")
        return value


class DelegationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    seal_id: uuid.UUID
    grantee_sub: str
    grantee_name: str
    granted_by: str
    expires_at: dt.datetime
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    revoked_reason: str | None


class SealApply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document_hash: str = Field(description="the document's SM3 or SHA-256 digest, 64 hex digits")
    hash_algorithm: HashAlgorithm = "SM3"
    document_name: Annotated[str | None, Field(max_length=200)] = None

    _hash = field_validator("document_hash")(lambda v: _hash(v))


class SealUseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    seal_id: uuid.UUID
    company_code: str
    actor: str
    actor_name: str | None
    delegation_id: uuid.UUID | None
    agency_delegation_id: uuid.UUID | None = Field(
        default=None, description="the gateway delegation (委托) an agent applied under; the company is the principal")
    hash_algorithm: str
    document_hash: str
    document_name: str | None
    outcome: Literal["applied", "refused"]
    refusal: str | None
    at: dt.datetime


class SealApplied(BaseModel):
    use: SealUseRead
    stamp: str = Field(description="TBS1.<base64url RFC 8785 JSON>.<base64url seal signature>: "
                                   "keep it with the document")
    sealed_at: dt.datetime
    timestamp: str = Field(description="TBT1.<base64url RFC 8785 JSON>.<base64url signature>: the platform "
                                       "time-stamping authority's RFC 3161-shaped token over the seal signature")
    timestamped_at: dt.datetime


class SealVerificationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document_hash: str
    hash_algorithm: HashAlgorithm = "SM3"
    stamp: Annotated[str, Field(min_length=1, max_length=4000)]

    _hash = field_validator("document_hash")(lambda v: _hash(v))


class SealVerificationResult(BaseModel):
    """Public: whether the document was sealed so, by which seal of which company, and when."""

    result: Literal["valid", "invalid", "forged"]
    reason: str
    seal_id: uuid.UUID | None = None
    seal_name: str | None = None
    kind: SealKind | None = None
    company_code: str | None = None
    company_name: str | None = None
    sealed_at: dt.datetime | None = None
    seal_status: Literal["active", "revoked"] | None = None
    timestamped_at: dt.datetime | None = Field(default=None, description="genTime of the platform TSA's token "
                                               "over the seal signature, when it checks out")


class RegistrationItemPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)]


class RegistrationItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    basic_code: str
    name: str
    created_by: str
    created_at: dt.datetime
