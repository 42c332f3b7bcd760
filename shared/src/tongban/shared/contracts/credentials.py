"""Event payloads published by svc-credentials (subjects `credentials.*`). Version 1: only additive changes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel

LICENCE_ISSUED = "credentials.licence.issued"
LICENCE_SUSPENDED = "credentials.licence.suspended"
LICENCE_REINSTATED = "credentials.licence.reinstated"
LICENCE_REVOKED = "credentials.licence.revoked"
# An approved case's licence could never be issued (additive to version 1).
LICENCE_ISSUE_FAILED = "credentials.licence.issue_failed"


class LicenceIssuedV1(BaseModel):
    """A licence version was issued: a new licence, or a new version of one (`supersedes` set)."""

    licence_id: uuid.UUID
    identifier: str
    type_code: str
    issuer_code: str
    version: int
    holder_type: Literal["111", "001"]
    holder_id: str
    valid_from: dt.date
    valid_until: dt.date | None = None
    source_case_id: uuid.UUID | None = None
    supersedes: uuid.UUID | None = None


class LicenceIssueFailedV1(BaseModel):
    """The licence an approved case should produce (证照联办) cannot be issued from what the
    approval carried: an unknown type, a department that does not issue it, a missing or invalid
    field. The case stays approved without its licence until the department acts."""

    case_id: uuid.UUID
    case_number: str
    type_code: str | None
    reason: str


class LicenceStatusChangedV1(BaseModel):
    """A licence was suspended, reinstated or revoked (the subject says which), with the reason."""

    licence_id: uuid.UUID
    identifier: str
    status: Literal["valid", "suspended", "revoked"]
    reason: str


# --- Company e-seals (电子印章); additive to version 1 ---------------------------------------------

SEAL_ISSUED = "credentials.seal.issued"
SEAL_REVOKED = "credentials.seal.revoked"


class SealIssuedV1(BaseModel):
    """A company seal was issued: on the company's registration (`source_case_id` set) or on request."""

    seal_id: uuid.UUID
    company_code: str
    kind: Literal["legal_name", "finance", "contract", "invoice"]
    name: str
    kid: str
    algorithm: Literal["Ed25519", "SM2"]
    source: Literal["registration", "request"]
    source_case_id: uuid.UUID | None = None


class SealRevokedV1(BaseModel):
    """A company seal was revoked; what it sealed before still verifies."""

    seal_id: uuid.UUID
    company_code: str
    kind: Literal["legal_name", "finance", "contract", "invoice"]
    reason: str
