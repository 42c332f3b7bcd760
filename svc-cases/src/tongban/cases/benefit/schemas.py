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
    state: str
    published_at: dt.datetime | None
    created_at: dt.datetime


class PublishResult(BaseModel):
    policy: BenefitPolicyRead
    evaluated: int = Field(description="subjects evaluated (免申即享); 0 for 即申即享")
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
    source: str = Field(description="declared (never verified) | licence | credit | registry")


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
    bank_name: str | None = None
    bank_account: str | None = Field(default=None, description="masked: the last four digits")
    account_given_at: dt.datetime | None = None
    created_at: dt.datetime

    @field_validator("bank_account")
    @classmethod
    def _masked(cls, v: str | None) -> str | None:
        return None if v is None else "*" * (len(v) - 4) + v[-4:]
