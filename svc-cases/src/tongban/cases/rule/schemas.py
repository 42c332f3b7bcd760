import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Op = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "present", "absent"]


class Condition(BaseModel):
    """`field` names a form field (`form.<name>`) or a fact about the applicant
    (`applicant.type`: person|company; `applicant.age`: whole years from the resident ID birth date)."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field(pattern=r"^(form\.[a-z][a-z0-9_]{0,39}|applicant\.(type|age))$", examples=["applicant.age"])
    op: Op
    value: Any = None


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
