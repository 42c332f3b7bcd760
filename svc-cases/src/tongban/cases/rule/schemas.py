import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Op = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "present", "absent"]


class Condition(BaseModel):
    """`field` names a form field (`form.<name>`), a fact about the applicant (`applicant.type`:
    person|company; `applicant.age`: whole years from the resident ID birth date) or a licence type
    the applicant holds valid (`licence.<type code>` with `present` / `absent`: read from
    svc-credentials, the applicant's wallet or the licence-backed materials of the submission)."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field(pattern=r"^(form\.[a-z][a-z0-9_]{0,39}|applicant\.(type|age)|licence\.[0-9A-Z]{4,40})$",
                       examples=["applicant.age", "licence.11100000000013338W001"])
    op: Op
    value: Any = None

    @model_validator(mode="after")
    def _licence_ops(self) -> "Condition":
        if self.field.startswith("licence.") and self.op not in ("present", "absent"):
            raise ValueError("a licence condition takes `present` or `absent`")
        return self


class ApprovalRuleCreate(BaseModel):
    conditions: list[Condition] = Field(min_length=1, max_length=50)
    active: bool = True
    note: str | None = Field(default=None, max_length=500)


class ApprovalRuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    basic_code: str
    version: int
    conditions: list[Condition]
    active: bool
    note: str | None
    created_by: str
    created_at: dt.datetime
