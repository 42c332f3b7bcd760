import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tongban.catalog.elements import (
    CITIES, Fee, Flags, HandlingForm, Limits, LimitUnit, Material, MaterialInput, Name, Phone, check_basic_code,
    check_credit_code, check_region,
)

CODE_LENGTH = 31
LEVELS = "1234567"  # the exercise level of the implementing body: 1 national ... 6 village, 7 graded


def split_code(code: str) -> tuple[str, str, str]:
    """A 31-character implementation code: credit code (18) + level (1) + basic code (12), each checked."""
    if len(code) != CODE_LENGTH:
        raise ValueError("an implementation code has 31 characters: credit code (18), level (1), basic code (12)")
    credit, level, basic = code[:18], code[18], code[19:]
    credit = check_credit_code(credit) or credit
    if level not in LEVELS:
        raise ValueError(f"character 19 is the level, one of {LEVELS}; got {level!r}")
    check_basic_code(basic)
    return credit, level, basic


class ImplementationElements(Limits):
    """What a city sets for its implementation: everything but its code and city."""

    implementing_body: Name
    fees: list[Fee] = Field(default_factory=list, max_length=50)
    materials: list[MaterialInput] = Field(default_factory=list, max_length=100)
    handling_forms: list[HandlingForm] = Field(min_length=1, max_length=5)
    visits: int = Field(ge=0, le=10, description="跑动次数")
    halls: list[Name] = Field(default_factory=list, max_length=50)
    online_depth: int = Field(ge=1, le=4, description="网办深度: 1 information ... 4 fully online")
    flags: Flags = Field(default_factory=Flags)
    consultation_phone: Phone | None = None
    notes: str | None = Field(default=None, max_length=2000)
    synthetic: bool = False

    @model_validator(mode="after")
    def _online(self) -> "ImplementationElements":
        if self.flags.fully_online != (self.online_depth == 4):
            raise ValueError("flags.fully_online is true exactly when online_depth is 4 (全流程网办)")
        return self


class ImplementationCreate(ImplementationElements):
    code: str = Field(description="31 characters: implementing body's credit code + level + basic code",
                      examples=["11442000007229339J4442000003000"])
    city_code: str = Field(description="GB/T 2260: 442000 Zhongshan, 440300 Shenzhen")

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        credit, level, basic = split_code(value.strip().upper())
        return credit + level + basic

    @field_validator("city_code")
    @classmethod
    def _city(cls, value: str) -> str:
        check_region(value)
        if value not in CITIES:
            raise ValueError(f"the platform serves {', '.join(f'{k} {v}' for k, v in CITIES.items())}")
        return value


class ImplementationUpdate(ImplementationElements):
    """The whole implementation again, but its code and city (which identify it): PUT semantics.
    It becomes the next version and is announced again."""

    expected_version: int | None = Field(default=None, ge=1,
                                         description="if given, refuse (409) unless this is the current version")
    reason: str | None = Field(default=None, max_length=1000, description="why, for the audit trail")


class ImplementationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    item_id: uuid.UUID
    basic_code: str
    city_code: str
    implementing_body: str
    implementing_body_credit_code: str
    level: str
    statutory_limit: int | None
    statutory_limit_unit: LimitUnit | None
    promised_limit: int | None
    promised_limit_unit: LimitUnit | None
    fees: list[Fee]
    materials: list[Material]
    handling_forms: list[str]
    visits: int
    halls: list[str]
    online_depth: int
    flags: Flags
    consultation_phone: str | None
    notes: str | None
    synthetic: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


Winner = Literal["a", "b", "equal"]


class ElementComparison(BaseModel):
    element: str
    a: float | int | bool | None
    b: float | int | bool | None
    better: Winner
    rule: str


class Comparison(BaseModel):
    basic_code: str
    name: str
    city_a: str
    city_b: str
    implementation_a: uuid.UUID
    implementation_b: uuid.UUID
    elements: list[ElementComparison]
    a_better: list[str]
    b_better: list[str]


class ReportRow(BaseModel):
    basic_code: str
    name: str
    a_lags_on: list[str]
    b_lags_on: list[str]


class BenchmarkReport(BaseModel):
    city_a: str
    city_b: str
    compared: int
    items_where_a_lags: int
    items_where_b_lags: int
    lags_per_element: dict[str, dict[str, int]]
    items: list[ReportRow]
    total: int
    limit: int
    offset: int
    next_offset: int | None
