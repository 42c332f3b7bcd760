import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from tongban.cases.benefit.rules import AmountRule, Condition, Definition

DefinitionName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
SubjectId = Field(default=None, pattern=r"^[0-9A-Za-z]{18}$")


class BenefitPolicyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: Literal["subsidy", "tax_relief", "grant", "benefit"]
    subject_type: Literal["company", "person"]
    mode: Literal["apply", "auto"]
    basic_code: str = Field(pattern=r"^\d{12}$")
    city_code: Literal["442000", "440300"] = "442000"
    department: str = Field(pattern=r"^[0-9A-Z]{18}$")
    eligibility: list[Condition] = Field(min_length=1, max_length=30)
    definitions: dict[DefinitionName, Definition] = Field(default_factory=dict, max_length=20)
    amount: AmountRule
    starts_on: dt.date
    ends_on: dt.date
    budget: int = Field(ge=0, le=10**12, description="yuan; never below zero")


class BenefitPolicyAmend(BaseModel):
    """What an amendment changes (the rest stays). Mode, kind, subject type, item and department
    never change: a different policy is a new one. Changing a published policy makes a new version;
    a 免申即享 policy is then evaluated again for every subject it has not been granted to."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="why (kept with the version it replaces)")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    eligibility: list[Condition] | None = Field(default=None, min_length=1, max_length=30)
    definitions: dict[DefinitionName, Definition] | None = Field(default=None, max_length=20)
    amount: AmountRule | None = None
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    budget: int | None = Field(default=None, ge=0, le=10**12, description="yuan; never below what is granted")


class BenefitPolicyClose(BaseModel):
    """Close (withdraw) a policy: no new grants or applications; the grants made stay."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class BenefitPolicyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kind: str
    subject_type: str
    mode: str
    basic_code: str
    city_code: str
    department: str
    eligibility: list[Condition]
    definitions: dict[str, Definition]
    amount_rule: AmountRule
    starts_on: dt.date
    ends_on: dt.date
    budget_total: int
    budget_used: int
    state: str = Field(description="draft | published | closed")
    published_at: dt.datetime | None
    version: int = 1
    amended_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    close_reason: str | None = None
    created_at: dt.datetime


class PublishResult(BaseModel):
    """A publication's or an amendment's outcome."""

    policy: BenefitPolicyRead
    evaluated: int = Field(description="subjects evaluated (免申即享); 0 for 即申即享 or when nothing needs it")
    eligible: int
    granted: int
    budget_exhausted: bool


class FactsDeclare(BaseModel):
    """Facts the subject declares of itself (kept as declared, never as verified)."""

    model_config = ConfigDict(extra="forbid")

    subject: str | None = SubjectId
    name: str | None = Field(default=None, max_length=200)
    facts: dict[str, str | int] = Field(min_length=1, max_length=20)


class FactRead(BaseModel):
    name: str
    value: Any
    source: str = Field(description="declared (never verified) | licence | credit | registry | case")
    verified: bool = Field(True, description="known from the platform's own records (events), not declared")


class FactsRead(BaseModel):
    subject_id: str
    subject_type: str
    facts: list[FactRead]
    regranted: int = Field(0, description="免申即享 policies granted by this change of facts")


class PolicyMatch(BaseModel):
    policy_id: uuid.UUID
    name: str
    mode: str
    amount: int
    matched: list[str]
    missing: list[str]
    granted: bool


class MatchesRead(BaseModel):
    subject_id: str
    eligible: list[PolicyMatch]
    near: list[PolicyMatch] = Field(description="policies missing one condition, with what is missing (the 20 of "
                                                "the highest amounts)")


class ApplicationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str | None = SubjectId


class BankAccountGive(BaseModel):
    """Where the grant is paid: the one thing a 免申即享 grant asks of its grantee."""

    model_config = ConfigDict(extra="forbid")

    bank_name: str = Field(min_length=1, max_length=60)
    bank_account: str = Field(pattern=r"^[0-9]{8,34}$")


class GrantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    policy_id: uuid.UUID
    subject_id: str
    subject_type: str
    basic_code: str
    department: str
    amount: int
    mode: str
    case_id: uuid.UUID
    matched: list[str]
    policy_version: int = Field(1, description="the version of the policy's rules it was granted under")
    bank_name: str | None = None
    bank_account: str | None = Field(default=None, description="masked: the last four digits")
    account_given_at: dt.datetime | None = None
    created_at: dt.datetime

    @field_validator("bank_account")
    @classmethod
    def _masked(cls, v: str | None) -> str | None:
        return None if v is None else "*" * (len(v) - 4) + v[-4:]
