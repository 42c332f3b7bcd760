import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tongban.cases.case.schemas import ApplicantIn, CaseRead
from tongban.cases.material.schemas import MaterialIn


class BundleCaseCreate(BaseModel):
    bundle_code: str = Field(min_length=1, max_length=60)
    city_code: Literal["442000", "440300"] | None = None
    form_data: dict[str, Any] = Field(default_factory=dict, description="one form for every item of the bundle")
    applicant: ApplicantIn | None = None
    materials: list[MaterialIn] = Field(default_factory=list, max_length=30, description=(
        "one set of materials for the bundle (its deduplicated list): each goes to the child cases whose "
        "item asks for it"))


class BundleCaseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    case_number: str
    bundle_code: str
    name: str
    applicant_type: str
    state: str
    outcome: str | None
    outcome_detail: dict[str, Any] | None
    created_at: dt.datetime
    completed_at: dt.datetime | None
    children: list[CaseRead] = Field(default_factory=list)
