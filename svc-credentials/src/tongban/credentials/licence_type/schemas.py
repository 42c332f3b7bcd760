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


Colour = Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$")]
Coord = Annotated[int, Field(ge=0, le=4000)]


class TemplateLine(BaseModel):
    """One line of the licence picture: a field's label and value at a place, in a size."""

    model_config = ConfigDict(extra="forbid")

    field: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="a field name, or holder_name")]
    label: Annotated[str, Field(max_length=40)] = ""
    x: Coord
    y: Coord
    size: Annotated[int, Field(ge=8, le=200)] = 34


class TemplateQr(BaseModel):
    model_config = ConfigDict(extra="forbid")

    x: Coord
    y: Coord
    size: Annotated[int, Field(ge=120, le=2000)] = 300


class LicenceTemplate(BaseModel):
    """How a licence of the type looks as a picture (照面), in pixels of the PNG (the PDF is the same
    page at 72 dpi per 2 px): a title, lines of fields, the QR code carrying the presentation."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[str | None, Field(max_length=60)] = None
    width: Annotated[int, Field(ge=300, le=4000)] = 1200
    height: Annotated[int, Field(ge=200, le=4000)] = 760
    background: Colour = "#FBF7EC"
    accent: Colour = "#B3261E"
    lines: Annotated[list[TemplateLine], Field(max_length=30)] = []
    qr: TemplateQr = TemplateQr(x=840, y=300, size=320)

    @model_validator(mode="after")
    def _inside(self) -> "LicenceTemplate":
        if self.qr.x + self.qr.size > self.width or self.qr.y + self.qr.size > self.height:
            raise ValueError("the QR code must lie inside the picture")
        if any(line.x >= self.width or line.y >= self.height for line in self.lines):
            raise ValueError("every line must start inside the picture")
        return self


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
    template: LicenceTemplate | None = Field(default=None, description="the picture's layout; default: the "
                                             "fields in order under the type's name")

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
        if self.template is not None:
            unknown = {line.field for line in self.template.lines} - {*names, "holder_name"}
            if unknown:
                raise ValueError(f"the template names fields the type does not have: {', '.join(sorted(unknown))}")
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
    template: LicenceTemplate | None = None
    created_at: dt.datetime
