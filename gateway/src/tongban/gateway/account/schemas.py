from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from tongban.shared.ids import normalize_credit_code, normalize_resident_id

Role = Literal["citizen", "company", "clerk", "approver", "admin", "auditor"]
Code = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[0-9A-Za-z_.-]+$")]

# The field that ties an account to what it may see, by role; no other role carries it.
ROLE_FIELD = {"citizen": "id_number", "company": "credit_code", "approver": "department", "clerk": "hall"}


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=3, max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")
    password: SecretStr = Field(min_length=8, max_length=200)
    role: Role
    display_name: str = Field(min_length=1, max_length=200)
    id_number: str | None = Field(default=None, description="citizens: resident ID number (GB 11643)")
    phone: str | None = Field(default=None, pattern=r"^1[3-9]\d{9}$")
    credit_code: str | None = Field(default=None, description="company users: unified social credit code")
    department: Code | None = Field(default=None, description="approvers: their department's code")
    hall: Code | None = Field(default=None, description="clerks: the hall they work in")

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
        return self


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
