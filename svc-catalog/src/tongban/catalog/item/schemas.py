import datetime as dt
import re
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# GB/T 39046 item types: 01 许可 ... 09 裁决, 10 其他, 20 公共服务.
ITEM_TYPES = {
    "01": "administrative licence", "02": "administrative penalty", "03": "administrative enforcement",
    "04": "administrative levy", "05": "administrative payment", "06": "administrative confirmation",
    "07": "administrative award", "08": "administrative inspection", "09": "administrative ruling",
    "10": "other administrative power", "20": "public service",
}
_BASIC_CODE = re.compile(r"^\d{12}$")

CaseType = Literal["immediate", "promised"]          # 即办件 / 承诺件
LimitUnit = Literal["working_day", "natural_day"]
Name = Annotated[str, Field(min_length=1, max_length=200)]


def check_basic_code(value: str) -> str:
    """12 characters: 2 region + 2 item type + 5 main item + 3 sub item, all digits."""
    if not _BASIC_CODE.match(value):
        raise ValueError("the basic code has 12 digits: 2 region, 2 item type, 5 main item, 3 sub item")
    if value[2:4] not in ITEM_TYPES:
        raise ValueError(f"item type {value[2:4]!r} in the basic code is not one of {', '.join(ITEM_TYPES)}")
    return value


class ItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    basic_code: str = Field(examples=["440120000100"])
    name: Name
    aliases: list[Name] = Field(default_factory=list, max_length=20)
    exercise_level: int = Field(ge=1, le=7, description="1 national ... 6 village, 7 graded")
    legal_basis: str | None = Field(default=None, max_length=5000)
    case_type: CaseType
    statutory_limit: int | None = Field(default=None, ge=0, le=3650)
    statutory_limit_unit: LimitUnit | None = None
    promised_limit: int | None = Field(default=None, ge=0, le=3650)
    promised_limit_unit: LimitUnit | None = None

    _code = field_validator("basic_code")(check_basic_code)

    @model_validator(mode="after")
    def _limits(self) -> "ItemCreate":
        for name in ("statutory_limit", "promised_limit"):
            if (getattr(self, name) is None) != (getattr(self, f"{name}_unit") is None):
                raise ValueError(f"{name} and {name}_unit go together")
        if (self.statutory_limit is not None and self.promised_limit is not None
                and self.statutory_limit_unit == self.promised_limit_unit
                and self.promised_limit > self.statutory_limit):
            raise ValueError("the promised limit cannot exceed the statutory limit")
        return self


class ItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    basic_code: str
    item_type: str
    name: str
    aliases: list[str]
    exercise_level: int
    legal_basis: str | None
    case_type: CaseType
    statutory_limit: int | None
    statutory_limit_unit: LimitUnit | None
    promised_limit: int | None
    promised_limit_unit: LimitUnit | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
