import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tongban.shared.ids import InvalidIdentifier, normalize_credit_code

FieldType = Literal["string", "integer", "number", "boolean", "date", "resident_id", "credit_code", "phone"]


class FormField(BaseModel):
    """One field of an item's application form (a JSON-schema-like description)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    label: str | None = Field(default=None, max_length=100)
    type: FieldType = "string"
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=1, le=10_000)
    pattern: str | None = Field(default=None, max_length=200)
    enum: list[Any] | None = Field(default=None, max_length=200)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from exc
        return value


class ItemConfigUpdate(BaseModel):
    form_fields: list[FormField] = Field(default_factory=list, max_length=200)
    department: str | None = Field(default=None, description="the handling department's credit code (GB 32100)")
    result_licence_type: str | None = Field(default=None, pattern=r"^[0-9A-Za-z.\-]{2,40}$")
    limit_working_days: int | None = Field(default=None, ge=0, le=365)

    @field_validator("department")
    @classmethod
    def _credit(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalize_credit_code(value)
        except InvalidIdentifier as exc:
            raise ValueError(str(exc)) from exc

    @model_validator(mode="after")
    def _unique(self) -> "ItemConfigUpdate":
        names = [f.name for f in self.form_fields]
        if len(names) != len(set(names)):
            raise ValueError("each form field name appears once")
        return self


class ItemConfigRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    basic_code: str
    form_fields: list[FormField]
    department: str | None
    result_licence_type: str | None
    limit_working_days: int | None
    version: int
    updated_at: dt.datetime
