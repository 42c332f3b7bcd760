import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from tongban.shared.ids import mask_phone, mask_resident_id, normalize_credit_code, normalize_resident_id

Role = Literal["citizen", "company", "clerk", "approver", "admin", "auditor"]
RealNameLevel = Literal["self_declared", "verified", "counter_verified"]
CompanyRole = Literal["legal_representative", "administrator", "agent"]
Username = Annotated[str, Field(min_length=3, max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")]
Password = Annotated[SecretStr, Field(min_length=8, max_length=200)]
Phone = Annotated[str, Field(pattern=r"^1[3-9]\d{9}$")]
Code = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[0-9A-Za-z_.-]+$")]

# The field that ties an account to what it may see, by role; no other role carries it.
ROLE_FIELD = {"citizen": "id_number", "company": "credit_code", "approver": "department", "clerk": "hall"}


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    password: Password
    role: Role
    display_name: str = Field(min_length=1, max_length=200)
    id_number: str | None = Field(default=None, description="citizens: resident ID number (GB 11643)")
    phone: str | None = Field(default=None, pattern=r"^1[3-9]\d{9}$")
    credit_code: str | None = Field(default=None, description="company users: unified social credit code")
    department: Code | None = Field(default=None, description="approvers: their department's code")
    hall: Code | None = Field(default=None, description="clerks: the hall they work in")
    counter: Code | None = Field(default=None, description="clerks: their counter in the hall")
    halls: list[Code] | None = Field(default=None, max_length=50,
                                     description="clerks: every hall they serve (default: `hall`)")
    departments: list[Code] | None = Field(default=None, max_length=50,
                                           description="clerks: the departments they take cases for; approvers: "
                                                       "the departments they decide for (default: `department`)")
    company_role: CompanyRole | None = Field(default=None, description="company users (default: legal_representative)")

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, value: str | None) -> str | None:
        return None if value is None else normalize_resident_id(value)

    @field_validator("credit_code")
    @classmethod
    def _credit_code(cls, value: str | None) -> str | None:
        return None if value is None else normalize_credit_code(value)

    @model_validator(mode="after")
    def _role_fields(self) -> "AccountCreate":
        for role, name in ROLE_FIELD.items():
            present = getattr(self, name) is not None
            if self.role == role and not present:
                raise ValueError(f"a {role} account needs {name}")
            if self.role != role and present:
                raise ValueError(f"{name} belongs only to {role} accounts")
        if self.counter is not None and self.role != "clerk":
            raise ValueError("counter belongs only to clerk accounts")
        if self.company_role is not None and self.role != "company":
            raise ValueError("company_role belongs only to company accounts")
        if self.halls is not None and self.role != "clerk":
            raise ValueError("halls belong only to clerk accounts")
        if self.departments is not None and self.role not in ("clerk", "approver"):
            raise ValueError("departments belong only to clerk and approver accounts")
        if self.role == "clerk":
            self.halls = sorted({self.hall, *(self.halls or ())})  # type: ignore[arg-type]
            self.departments = sorted(set(self.departments or ()))
        if self.role == "approver":
            self.departments = sorted({self.department, *(self.departments or ())})  # type: ignore[arg-type]
        return self


class StaffScope(BaseModel):
    """What an admin sets: a clerk's halls and departments, an approver's departments."""

    model_config = ConfigDict(extra="forbid")

    halls: list[Code] = Field(default_factory=list, max_length=50)
    departments: list[Code] = Field(min_length=1, max_length=50)
    reason: str = Field(min_length=1, max_length=500)


class RegistrationAccepted(BaseModel):
    """The same answer to every well-formed registration: whether the username or the ID number
    is already taken is not told here (it is settled when someone proves the ID number)."""

    status: Literal["accepted"] = "accepted"
    detail: str = ("log in with your username and password; to see your cases and licences, verify your "
                   "real name (POST /api/v1/auth/real-name/verifications) or show your ID card at a counter")


class CitizenRegistration(BaseModel):
    """What a citizen gives to register in the mini-program; the name is self-declared until a
    clerk checks the ID card at a counter."""

    model_config = ConfigDict(extra="forbid")

    username: Username
    password: Password
    display_name: str = Field(min_length=1, max_length=200, description="the name on the ID card")
    id_number: str = Field(description="resident ID number (GB 11643), check digit included")
    phone: Phone

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, value: str) -> str:
        return normalize_resident_id(value)


class RealNameVerification(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="what was checked, e.g. the ID card at the counter")


class AccountStatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="why the account is switched off or on")


class AccountRead(BaseModel):
    """An account as shown to a caller: personal numbers masked unless the caller owns them."""

    id: uuid.UUID
    username: str
    role: str
    display_name: str
    id_number: str | None = None
    phone: str | None = None
    credit_code: str | None = None
    department: str | None = None
    hall: str | None = None
    counter: str | None = None
    halls: list[str] | None = None
    departments: list[str] | None = None
    real_name_level: RealNameLevel | None = None
    company_role: CompanyRole | None = None
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, account: object, owner: bool) -> "AccountRead":
        read = cls.model_validate(account, from_attributes=True)
        if not owner:
            read.id_number = mask_resident_id(read.id_number) if read.id_number else None
            read.phone = mask_phone(read.phone) if read.phone else None
        return read


class UserInfo(BaseModel):
    """The caller as their access token says: shown unmasked, since the caller is its owner."""

    sub: str
    role: str
    name: str | None = None
    scope: str
    id_number: str | None = None
    credit_code: str | None = None
    department: str | None = None
    hall: str | None = None
    counter: str | None = None
    halls: list[str] | None = None
    departments: list[str] | None = None
    real_name_level: str | None = None
    company_role: str | None = None
    agent_for: dict[str, Any] | None = None
    partner: str | None = None
