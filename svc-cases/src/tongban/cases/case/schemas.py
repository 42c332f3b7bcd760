import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from tongban.cases.material.schemas import MaterialIn

CaseState = Literal["draft", "submitted", "accepted", "refused", "supplement_requested", "in_review", "approved",
                    "denied", "completed", "withdrawn", "suspended", "revoked"]
Action = Literal["submit", "accept", "refuse", "request_supplement", "resubmit", "review", "approve", "deny",
                 "complete", "withdraw", "extend", "revoke", "fulfil_gaps"]


class ApplicantIn(BaseModel):
    """The applicant, when a clerk submits for a walk-in applicant (or a company user names the company)."""

    type: Literal["person", "company"]
    id: str = Field(min_length=15, max_length=18, description="resident ID number or credit code")
    name: str = Field(min_length=1, max_length=200)


class CaseCreate(BaseModel):
    basic_code: str = Field(pattern=r"^\d{12}$", examples=["442020000900"])
    implementation_code: str | None = Field(default=None, pattern=r"^[0-9A-Z]{31}$",
                                            description="the city's implementation (31 characters)")
    city_code: Literal["442000", "440300"] | None = Field(default=None, description="defaults to the service's city")
    form_data: dict[str, Any] = Field(default_factory=dict)
    applicant: ApplicantIn | None = None
    commitment_signed: bool = Field(default=False, description="the applicant signed the commitment (承诺制)")
    draft: bool = Field(default=False, description="keep as a draft; submit later with POST .../submit")
    materials: list[MaterialIn] = Field(default_factory=list, max_length=30,
                                        description="uploaded documents and licence-backed materials (免证办)")


class CaseAction(BaseModel):
    """The body of a transition; which fields count depends on the action."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=2000)
    gaps: list[str] | None = Field(default=None, max_length=50, description="accept: materials still missing (容缺)")
    gaps_due_on: dt.date | None = None
    commitment: bool = Field(default=False, description="approve: on the applicant's signed commitment")
    extension_days: int | None = Field(default=None, ge=1, le=365)
    form_data: dict[str, Any] | None = Field(default=None, description="resubmit: the corrected form")
    licence_data: dict[str, Any] | None = Field(
        default=None, max_length=50,
        description="approve: the licence's fields the department decides (证照联办), by the licence type's "
                    "field names; sent with the approval over the form's fields of the same name")


class CaseRead(BaseModel):
    id: uuid.UUID
    case_number: str
    lookup_code: str | None
    city_code: str
    basic_code: str
    implementation_code: str | None
    item_name: str
    department: str
    applicant_type: str
    applicant_id: str
    applicant_name: str
    channel: str
    hall: str | None = None
    submitted_by: str | None = None          # the actor's account (an agent, a clerk, the applicant)
    submitter_role: str | None = None
    delegation_id: str | None = None         # the delegation the submitter acted under
    partner_region: str | None = None
    partner_case_number: str | None = None
    form_data: dict[str, Any]
    state: CaseState
    state_reason: str | None
    limit_days: int
    limit_unit: str
    extension_days: int
    paused_days: int
    received_on: dt.date | None
    deadline_on: dt.date | None
    deadline_provisional: bool = Field(
        default=False, description="the deadline rests on days of a year whose official holiday schedule is not "
                                   "imported yet (estimated); it is recomputed when the schedule is imported")
    deadline_basis: str | None = Field(default=None, description="why the deadline is provisional")
    paused: bool
    remaining_days: int | None
    gaps: list[str] | None
    gaps_due_on: dt.date | None
    missing_materials: list[str] | None = Field(default=None, description="required 容缺 materials not yet given")
    decided_by_rule_version: int | None
    commitment_approval: bool
    licence_identifier: str | None
    created_at: dt.datetime
    submitted_at: dt.datetime | None
    decided_at: dt.datetime | None
    completed_at: dt.datetime | None


class TimelineEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: str
    from_state: str | None
    to_state: str
    actor: str
    actor_role: str
    principal: str | None = None
    delegation_id: str | None = None
    reason: str | None
    detail: dict[str, Any] | None
    at: dt.datetime


class ProgressStep(BaseModel):
    action: str
    to_state: str
    at: dt.datetime


class ProgressRead(BaseModel):
    """What anyone holding the case number and lookup code sees (no personal data)."""

    case_number: str
    item_name: str
    state: CaseState
    submitted_at: dt.datetime | None
    deadline_on: dt.date | None
    steps: list[ProgressStep]
