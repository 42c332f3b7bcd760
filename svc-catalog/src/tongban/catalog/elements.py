"""Value objects shared by items, implementations and bundles: GB/T 39046 elements, materials,
fees, limits and flags. Each is validated here so every aggregate refuses the same bad input."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from tongban.shared.ids import InvalidIdentifier, normalize_credit_code

# GB/T 39046 item types: 01 许可 ... 09 裁决, 10 其他, 20 公共服务.
ITEM_TYPES = {
    "01": "administrative licence", "02": "administrative penalty", "03": "administrative enforcement",
    "04": "administrative levy", "05": "administrative payment", "06": "administrative confirmation",
    "07": "administrative award", "08": "administrative inspection", "09": "administrative ruling",
    "10": "other administrative power", "20": "public service",
}
# GB/T 2260 codes of the cities the platform serves.
CITIES = {"442000": "中山市", "440300": "深圳市"}
_BASIC_CODE = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^\d{6}$")
_LICENCE_TYPE = re.compile(r"^[0-9A-Z]{18}\d{3}$")
_PHONE = re.compile(r"^[0-9+\-() ]{5,30}$")

CaseType = Literal["immediate", "promised"]          # 即办件 / 承诺件
LimitUnit = Literal["working_day", "natural_day"]
ServiceObject = Literal["person", "company", "institution", "social_organisation", "government", "other"]
HandlingForm = Literal["window", "pc", "mobile", "post", "self_service"]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Label = Annotated[str, Field(min_length=1, max_length=100)]
Phone = Annotated[str, Field(pattern=_PHONE.pattern)]


def check_basic_code(value: str) -> str:
    """12 characters: 2 region + 2 item type + 5 main item + 3 sub item, all digits."""
    if not _BASIC_CODE.match(value):
        raise ValueError("the basic code has 12 digits: 2 region, 2 item type, 5 main item, 3 sub item")
    if value[2:4] not in ITEM_TYPES:
        raise ValueError(f"item type {value[2:4]!r} in the basic code is not one of {', '.join(ITEM_TYPES)}")
    return value


def check_credit_code(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normalize_credit_code(value)
    except InvalidIdentifier as exc:
        raise ValueError(str(exc)) from exc


def check_licence_type(value: str | None) -> str | None:
    """A licence type code as svc-credentials defines it: the defining body's 18-character credit
    code (GB 32100, check character verified) and 3 digits, e.g. 11100000000019211T001."""
    if value is None:
        return None
    v = value.strip().upper()
    if not _LICENCE_TYPE.match(v):
        raise ValueError("a licence type code is the defining body's 18-character credit code and 3 digits "
                         "(e.g. 11100000000019211T001)")
    try:
        normalize_credit_code(v[:18])
    except InvalidIdentifier as exc:
        raise ValueError(f"the credit code in the licence type code: {exc}") from exc
    return v


# GB/T 2260 province-level codes (the first two digits of every region code): 34 in all.
PROVINCES = frozenset({"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
                       "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
                       "65", "71", "81", "82"})


def check_region(value: str) -> str:
    if not _REGION.match(value):
        raise ValueError("a GB/T 2260 region code has 6 digits (442000 Zhongshan, 440300 Shenzhen)")
    if value[:2] not in PROVINCES:
        raise ValueError(f"{value[:2]!r} is no province of GB/T 2260 (44 is Guangdong)")
    if value[2:4] == "00" and value[4:] != "00":
        raise ValueError("a GB/T 2260 code with 00 in digits 3-4 is a province: its last two digits are 00")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Material(Strict):
    """One application material (材料), as stored and shown. Reads do not re-check the licence type
    code, so a record written before the codes were checked still reads (see MaterialInput)."""

    name: Name
    issuer: str | None = Field(default=None, max_length=200, description="who issues it (出具单位)")
    originals: int = Field(default=0, ge=0, le=20)
    copies: int = Field(default=0, ge=0, le=20)
    required: bool = True
    licence_type_code: str | None = Field(default=None, max_length=40, examples=["11100000000019211T001"],
                                          description="免证办: an e-licence of this type (svc-credentials' "
                                                      "type code) satisfies it")
    accept_with_gaps: bool = Field(default=False, description="容缺: may be missing at acceptance")
    note: str | None = Field(default=None, max_length=1000)


class MaterialInput(Material):
    """A material as an editor writes it: its licence type code must be a real one."""

    _licence_type = field_validator("licence_type_code")(check_licence_type)


class Fee(Strict):
    name: Name
    amount: Decimal = Field(ge=0, le=Decimal("100000000"), decimal_places=2, description="yuan")
    basis: str = Field(min_length=1, max_length=1000, description="the charging basis (收费依据)")

    @field_validator("amount")
    @classmethod
    def _cents(cls, value: Decimal) -> Decimal:
        return value.quantize(Decimal("0.01"))


class Step(Strict):
    name: Name
    description: str | None = Field(default=None, max_length=2000)


class Question(Strict):
    question: str = Field(min_length=1, max_length=1000)
    answer: str = Field(min_length=1, max_length=5000)


class Flags(Strict):
    """The catalogue's flags; every one defaults to off."""

    fully_online: bool = False                     # 全流程网办
    instant_approval: bool = False                 # 秒批
    instant_approval_rule_id: str | None = Field(default=None, max_length=100)
    no_certificate: bool = False                   # 免证办
    nearby: bool = False                           # 就近办
    self_service: bool = False                     # 自助办
    village_level: bool = False                    # 村居办
    cross_city: bool = False                       # 深中通办
    cross_province: bool = False                   # 跨省通办
    commitment_approval: bool = False              # 承诺制
    accept_with_gaps: bool = False                 # 容缺受理

    @model_validator(mode="after")
    def _rule(self) -> "Flags":
        if self.instant_approval and not self.instant_approval_rule_id:
            raise ValueError("instant_approval needs the id of its rule (instant_approval_rule_id)")
        return self


FLAG_NAMES = [n for n, f in Flags.model_fields.items() if f.annotation is bool]


class Limits(Strict):
    """Statutory and promised limits, each with its unit (working or natural days)."""

    statutory_limit: int | None = Field(default=None, ge=0, le=3650)
    statutory_limit_unit: LimitUnit | None = Field(default=None, validate_default=True)
    promised_limit: int | None = Field(default=None, ge=0, le=3650)
    promised_limit_unit: LimitUnit | None = Field(default=None, validate_default=True)

    @field_validator("statutory_limit_unit", "promised_limit_unit")
    @classmethod
    def _unit_goes_with_limit(cls, unit: str | None, info: ValidationInfo) -> str | None:
        limit = info.field_name.removesuffix("_unit")
        if limit not in info.data:  # the limit itself failed; its own error says why
            return unit
        if (info.data[limit] is None) != (unit is None):
            raise ValueError(f"{limit} and {limit}_unit go together")
        return unit

    @model_validator(mode="after")
    def _promised_within_statutory(self) -> Any:
        if (self.statutory_limit is not None and self.promised_limit is not None
                and self.statutory_limit_unit == self.promised_limit_unit
                and self.promised_limit > self.statutory_limit):
            raise ValueError("the promised limit cannot exceed the statutory limit")
        return self


def natural_days(limit: int | None, unit: str | None) -> float | None:
    """A limit in natural days, for comparison: five working days make a week."""
    if limit is None:
        return None
    return limit * 7 / 5 if unit == "working_day" else float(limit)


def json_schema_object(value: dict[str, Any]) -> dict[str, Any]:
    """An item's application form: a JSON Schema object with named properties."""
    if value.get("type", "object") != "object" or not isinstance(value.get("properties", {}), dict):
        raise ValueError("the form schema is a JSON Schema of type object with a properties map")
    props = value.get("properties", {})
    for key, spec in props.items():
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", key) or not isinstance(spec, dict):
            raise ValueError(f"form field {key!r}: names are snake_case and each field is a schema object")
    required = value.get("required", [])
    if not isinstance(required, list) or any(r not in props for r in required):
        raise ValueError("every required form field must be one of its properties")
    return {"type": "object", "properties": props, "required": required}
