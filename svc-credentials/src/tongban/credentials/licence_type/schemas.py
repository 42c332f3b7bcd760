import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tongban.credentials.identifier import check_type_code
from tongban.shared.ids import normalize_credit_code

HolderType = Literal["111", "001"]        # GB/T 36904 holder id kinds: resident ID number / credit code
FieldType = Literal["string", "integer", "number", "boolean", "date"]
Validity = Literal["permanent", "years", "given"]
RESERVED = frozenset({"holder_name", "holder_id"})


class FieldSpec(BaseModel):
    """One data field of a licence type; `personal` fields are never shown to non-owners by default."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    label: Annotated[str | None, Field(max_length=100)] = None
    type: FieldType = "string"
    required: bool = True
    personal: bool = False
    max_length: Annotated[int | None, Field(ge=1, le=10_000)] = None


class LicenceTypeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="the defining body's credit code and 3 digits", examples=["11442000007234512X001"])
    name: Annotated[str, Field(min_length=1, max_length=200)]
    issuer_code: str = Field(description="the issuing department's credit code")
    issuer_name: Annotated[str, Field(min_length=1, max_length=200)]
    holder_type: HolderType
    fields: Annotated[list[FieldSpec], Field(min_length=1, max_length=100)]
    validity: Validity = "permanent"
    validity_years: Annotated[int | None, Field(ge=1, le=100)] = None

    _code = field_validator("code")(lambda v: check_type_code(v))
    _issuer = field_validator("issuer_code")(lambda v: normalize_credit_code(v))

    @model_validator(mode="after")
    def _consistent(self) -> "LicenceTypeCreate":
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("field names must be unique")
        if RESERVED & set(names):
            raise ValueError(f"field names {', '.join(sorted(RESERVED))} are reserved")
        if (self.validity == "years") != (self.validity_years is not None):
            raise ValueError("validity_years goes with validity 'years' and only with it")
        return self


class LicenceTypeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    issuer_code: str
    holder_type: HolderType
    fields: list[FieldSpec]
    validity: Validity
    validity_years: int | None
    created_at: dt.datetime
