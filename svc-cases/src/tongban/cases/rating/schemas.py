import datetime as dt
import uuid
from typing import Literal

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

LEVELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}


RATING_DESCRIPTION = "5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意"


class RatingCreate(BaseModel):
    """A rating is `rating` everywhere on the platform (cases here, hall tickets at svc-queue);
    the old name `level` is still accepted."""

    case_id: uuid.UUID
    rating: int = Field(ge=1, le=5, description=RATING_DESCRIPTION)
    comment: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="before")
    @classmethod
    def _old_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "level" in data:
            data = dict(data)
            level = data.pop("level")
            if "rating" in data and data["rating"] != level:
                raise ValueError("send `rating` (the old name `level` is accepted alone, not beside it)")
            data["rating"] = level
        return data


class RatingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    case_id: uuid.UUID
    basic_code: str
    department: str
    counter: str | None
    # Marked deprecated in the OpenAPI only (pydantic's `deprecated=` would warn on every read).
    level: int = Field(description="the old name of `rating`, kept for existing clients",
                       json_schema_extra={"deprecated": True})
    comment: str | None
    defaulted: bool
    created_at: dt.datetime

    @computed_field(description=RATING_DESCRIPTION)  # type: ignore[prop-decorator]
    @property
    def rating(self) -> int:
        return self.level


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

    default_rating: int = Field(default=5, ge=1, le=5, description="the rating an unrated case takes")
    default_after_days: int = Field(default=15, ge=1, le=365, description="natural days after completion")
    remedy_working_days: int = Field(default=5, ge=1, le=60)

    @model_validator(mode="before")
    @classmethod
    def _old_name(cls, data: Any) -> Any:
        # Policies stored, and admins' clients written, before `rating` was the one name.
        if isinstance(data, dict) and "default_level" in data:
            data = dict(data)
            level = data.pop("default_level")
            if "default_rating" in data and data["default_rating"] != level:
                raise ValueError("send `default_rating` (the old name `default_level` is accepted alone)")
            data["default_rating"] = level
        return data
