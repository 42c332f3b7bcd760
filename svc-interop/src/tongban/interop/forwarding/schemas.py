import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

REGION = r"^\d{6}$"
ITEM_CODE = r"^[0-9A-Z]{8,20}$"
# What the handling city reports back: the case's state there after each step (svc-cases' states).
CaseStatus = Literal["submitted", "accepted", "supplement_requested", "in_review", "approved", "refused", "denied",
                     "completed", "withdrawn", "suspended", "revoked"]


class Applicant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id_number: str = Field(min_length=15, max_length=18)
    name: str = Field(min_length=1, max_length=100)


class OutgoingCaseCreate(BaseModel):
    """A case accepted here (at a counter) for an item the partner city handles."""

    model_config = ConfigDict(extra="forbid")

    partner: str = Field(pattern=REGION, description="the handling city, e.g. 440300")
    item_code: str = Field(pattern=ITEM_CODE, description="the partner's item (basic code)")
    applicant: Applicant
    form: dict[str, Any] = Field(default_factory=dict)


class ProgressEntry(BaseModel):
    status: str
    note: str | None = None
    changed_at: dt.datetime
    remote_case_number: str | None = None
    message_id: str | None = None


class OutgoingCaseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    case_number: str
    partner: str
    item_code: str
    applicant_id_number: str
    applicant_name: str
    status: str
    remote_case_number: str | None
    progress: list[ProgressEntry]
    kind: str = "case"                      # or company_migration (applicant_id_number is then a credit code)
    local_case_id: uuid.UUID | None = None  # company_migration: svc-cases' migration-out case here
    local_case_number: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class ForwardedCase(BaseModel):
    """The wire body of `case.forward` (city A → city B). The full ID number travels because B
    must open a real case; the headers carry it masked (on-behalf-of)."""

    model_config = ConfigDict(extra="ignore")

    case_ref: uuid.UUID
    case_number: str = Field(min_length=1, max_length=40)
    item_code: str = Field(pattern=ITEM_CODE)
    implementation_code: str | None = Field(default=None, max_length=40)
    applicant: Applicant
    form: dict[str, Any] = Field(default_factory=dict)


class ForwardAck(BaseModel):
    """B's 202: its own case number for the forwarded case."""

    case_number: str
    status: str
    received_at: dt.datetime


class CaseStatusChange(BaseModel):
    """The wire body of `case.status` (city B → city A) on every status change."""

    model_config = ConfigDict(extra="ignore")

    case_ref: uuid.UUID = Field(description="A's case id, as sent in case.forward")
    case_number: str = Field(min_length=1, max_length=60, description="B's case number")
    status: CaseStatus
    note: str | None = Field(default=None, max_length=1000)
    changed_at: dt.datetime


class StatusAck(BaseModel):
    case_number: str
    status: str


class IncomingCaseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    case_number: str
    partner: str
    partner_case_ref: str
    partner_case_number: str
    local_case_id: uuid.UUID | None
    item_code: str
    applicant_id_number: str
    applicant_name: str
    status: str
    kind: str = "case"
    form: dict[str, Any] = Field(default_factory=dict, description="the partner's form; for a company migration "
                                 "also its registration and tax record summary")
    created_at: dt.datetime
    updated_at: dt.datetime


class MigratingCompany(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credit_code: str = Field(min_length=18, max_length=18, description="GB 32100 unified social credit code")
    name: str = Field(min_length=1, max_length=100)


class CompanyMigration(BaseModel):
    """The wire body of `company.migrate` (the city the company leaves → the city it moves to).
    The origin city is the authenticated sender; `registration` and `tax` are the origin city's
    record summaries (see forwarding/migration.py, synthetic in this platform)."""

    model_config = ConfigDict(extra="ignore")

    migration_ref: uuid.UUID = Field(description="the origin city's record id: the same ref sent again is the same "
                                                 "migration; case.status messages name it as case_ref")
    case_number: str = Field(min_length=1, max_length=40, description="the origin city's migration-out case number")
    item_code: str = Field(pattern=ITEM_CODE, description="our migration-in item")
    company: MigratingCompany
    new_address: str = Field(min_length=1, max_length=300)
    registration: dict[str, Any] = Field(default_factory=dict)
    tax: dict[str, Any] = Field(default_factory=dict)
