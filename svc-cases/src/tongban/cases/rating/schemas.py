import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

LEVELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}


class RatingCreate(BaseModel):
    case_id: uuid.UUID
    level: int = Field(ge=1, le=5, description="5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意")
    comment: str | None = Field(default=None, max_length=2000)


class RatingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    case_id: uuid.UUID
    basic_code: str
    department: str
    counter: str | None
    level: int
    comment: str | None
    defaulted: bool
    created_at: dt.datetime


class RemedyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    rating_id: uuid.UUID
    case_id: uuid.UUID
    department: str
    state: str
    due_on: dt.date
    result: str | None
    callback_result: str | None
    created_at: dt.datetime
    closed_at: dt.datetime | None


class RemedyClose(BaseModel):
    result: str = Field(min_length=1, max_length=2000, description="what was put right")
    callback_result: Literal["satisfied", "unsatisfied", "unreachable"]


class RatingStatistic(BaseModel):
    key: str | None
    ratings: int
    positive: int
    positive_rate: float


class RatingPolicy(BaseModel):
    """When an unrated completed case takes the default, and how long a remedy may take."""

    default_level: int = Field(default=5, ge=1, le=5)
    default_after_days: int = Field(default=15, ge=1, le=365, description="natural days after completion")
    remedy_working_days: int = Field(default=5, ge=1, le=60)
