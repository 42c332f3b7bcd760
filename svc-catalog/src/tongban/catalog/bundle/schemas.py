import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tongban.catalog.elements import CITIES, Name, Strict, check_basic_code


class BundleElements(Strict):
    name: Name
    description: str | None = Field(default=None, max_length=2000)
    city_code: str | None = Field(default=None, description="the city that offers it; none: both")
    item_codes: list[str] = Field(min_length=2, max_length=30, description="basic codes, in the order handled")
    synthetic: bool = False

    @field_validator("item_codes")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        for code in value:
            check_basic_code(code)
        if len(set(value)) != len(value):
            raise ValueError("each item appears once in a bundle")
        return value

    @field_validator("city_code")
    @classmethod
    def _city(cls, value: str | None) -> str | None:
        if value is not None and value not in CITIES:
            raise ValueError(f"one of {', '.join(CITIES)}")
        return value


class BundleCreate(BundleElements):
    code: str = Field(pattern=r"^[A-Z0-9][A-Z0-9\-]{2,39}$", examples=["442000-KBQY"])


class BundleUpdate(BundleElements):
    """The whole bundle again, but its code: PUT semantics. The merged form is computed again from
    the items as they are now; the bundle becomes its next version and is announced again."""

    expected_version: int | None = Field(default=None, ge=1,
                                         description="if given, refuse (409) unless this is the current version")
    reason: str | None = Field(default=None, max_length=1000, description="why, for the audit trail")


class BundleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    name: str
    description: str | None
    city_code: str | None
    item_codes: list[str]
    merged: dict[str, Any]
    synthetic: bool
    status: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
