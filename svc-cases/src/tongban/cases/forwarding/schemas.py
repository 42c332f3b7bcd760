from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class PartnerApplicant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["person", "company"]
    id_number: str | None = Field(default=None, max_length=18, description="resident ID number (person)")
    credit_code: str | None = Field(default=None, max_length=18, description="unified social credit code (company)")
    name: str = Field(min_length=1, max_length=200)


class ForwardedCaseCreate(BaseModel):
    """A case a partner city received and forwards to this city (异地受理), as svc-interop relays it."""

    model_config = ConfigDict(extra="forbid")

    partner_region: str = Field(pattern=r"^\d{6}$", examples=["440300"], description="GB/T 2260 region of the partner")
    partner_case_number: str = Field(min_length=1, max_length=40)
    basic_code: str = Field(pattern=r"^\d{12}$", examples=["442020000900"])
    implementation_code: str | None = Field(default=None, pattern=r"^[0-9A-Z]{31}$")
    applicant: PartnerApplicant
    form_data: dict[str, Any] = Field(default_factory=dict)
