import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Weight = Literal["exclude", "low", "normal", "high"]
CounterKind = Literal["comprehensive", "cross_city", "company_registration", "specialised"]


class Skill(BaseModel):
    """One skill: a ticket category (one letter) or an item code (12 digits), with a weight."""

    model_config = ConfigDict(extra="forbid")

    category: str | None = Field(default=None, pattern=r"^[A-Z]$")
    item_code: str | None = Field(default=None, pattern=r"^\d{12}$")
    weight: Weight = "normal"

    @model_validator(mode="after")
    def _one_target(self) -> "Skill":
        if (self.category is None) == (self.item_code is None):
            raise ValueError("give either category or item_code")
        return self


class CounterCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: Annotated[str, Field(min_length=1, max_length=20)]
    kind: CounterKind = "comprehensive"
    skills: list[Skill] = Field(default_factory=list, max_length=200)


class SkillsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skills: list[Skill] = Field(max_length=200)


class CounterRead(BaseModel):
    id: uuid.UUID
    hall_id: uuid.UUID
    number: str
    kind: str
    status: str
    signed_in_at: dt.datetime | None
    current_ticket_id: uuid.UUID | None
    skills: list[Skill]
