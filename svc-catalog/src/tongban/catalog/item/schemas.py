import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tongban.catalog.elements import (
    ITEM_TYPES, CaseType, Fee, Flags, HandlingForm, Label, Limits, LimitUnit, Material, MaterialInput, Name, Phone,
    Question, ServiceObject, Step, Strict, check_basic_code, check_credit_code, check_licence_type, json_schema_object,
)

__all__ = ["ITEM_TYPES", "ItemCreate", "ItemRead", "ItemUpdate", "ItemRetire", "ItemStatus", "ItemSummary",
           "ItemListRow", "ItemLinks", "ItemView"]

ItemStatus = Literal["draft", "published", "retired"]
# The item list's views: `full` (ItemRead, every element) or `summary` (ItemListRow, a list row).
ItemView = Literal["full", "summary"]


class ItemElements(Limits):
    """The GB/T 39046 elements an editor may set; every one but the core has a default."""

    aliases: list[Name] = Field(default_factory=list, max_length=20)
    legal_basis: str | None = Field(default=None, max_length=5000)
    implementing_body: str | None = Field(default=None, max_length=200, description="实施主体")
    implementing_body_credit_code: str | None = Field(default=None, description="GB 32100, check character verified")
    acceptance_conditions: list[str] = Field(default_factory=list, max_length=50)
    process_steps: list[Step] = Field(default_factory=list, max_length=50)
    fees: list[Fee] = Field(default_factory=list, max_length=50)
    service_objects: list[ServiceObject] = Field(default_factory=list, max_length=6)
    themes: list[Label] = Field(default_factory=list, max_length=20)
    life_events: list[Label] = Field(default_factory=list, max_length=20)
    handling_forms: list[HandlingForm] = Field(default_factory=list, max_length=5)
    visits: int | None = Field(default=None, ge=0, le=10, description="跑动次数")
    result_name: str | None = Field(default=None, max_length=200)
    result_licence_type: str | None = Field(default=None, examples=["11100000000019238J001"],
                                            description="the e-licence type (svc-credentials' type code: credit "
                                                        "code + 3 digits) the item produces, if any")
    consultation_phone: Phone | None = None
    supervision_phone: Phone | None = None
    faq: list[Question] = Field(default_factory=list, max_length=50)
    materials: list[MaterialInput] = Field(default_factory=list, max_length=100)
    flags: Flags = Field(default_factory=Flags)
    form_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}, "required": []})
    synthetic: bool = Field(default=False, description="demo data that is not a real catalogue entry")

    _credit = field_validator("implementing_body_credit_code")(check_credit_code)
    _result_type = field_validator("result_licence_type")(check_licence_type)
    _form = field_validator("form_schema")(json_schema_object)

    @field_validator("materials")
    @classmethod
    def _unique_materials(cls, value: list[MaterialInput]) -> list[MaterialInput]:
        names = [m.name for m in value]
        if len(names) != len(set(names)):
            raise ValueError("each material is listed once")
        return value


class ItemCreate(ItemElements):
    basic_code: str = Field(examples=["440120000100"])
    name: Name
    exercise_level: int = Field(ge=1, le=7, description="1 national ... 6 village, 7 graded")
    case_type: CaseType
    publish: bool = Field(default=True, description="false keeps it as a draft, announced only when published")

    _code = field_validator("basic_code")(check_basic_code)


class ItemUpdate(ItemElements):
    """The whole item again, but its basic code (which never changes): PUT semantics. On a draft it
    edits the draft; on a published or retired item it publishes the next version."""

    name: Name
    exercise_level: int = Field(ge=1, le=7)
    case_type: CaseType
    reason: str | None = Field(default=None, max_length=1000, description="why, for the audit trail")


class ItemRetire(Strict):
    reason: str = Field(min_length=1, max_length=1000)


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
    implementing_body: str | None = None
    implementing_body_credit_code: str | None = None
    acceptance_conditions: list[str] = []
    process_steps: list[Step] = []
    fees: list[Fee] = []
    service_objects: list[str] = []
    themes: list[str] = []
    life_events: list[str] = []
    handling_forms: list[str] = []
    visits: int | None = None
    result_name: str | None = None
    result_licence_type: str | None = None
    consultation_phone: str | None = None
    supervision_phone: str | None = None
    faq: list[Question] = []
    materials: list[Material] = []
    flags: Flags = Flags()
    form_schema: dict[str, Any] = {}
    cities: list[str] = []
    synthetic: bool = False
    status: ItemStatus = "published"
    version: int
    published_at: dt.datetime | None = None
    retired_at: dt.datetime | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class ItemSummary(BaseModel):
    """An item as a search result or a list row."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    basic_code: str
    item_type: str
    name: str
    aliases: list[str]
    implementing_body: str | None
    service_objects: list[str]
    themes: list[str]
    cities: list[str]
    flags: Flags
    status: ItemStatus
    version: int


class ItemLinks(BaseModel):
    """Where a list row leads (paths through the gateway)."""

    self: str = Field(description="the item in full: GET /api/v1/catalog/items/{id}")
    implementations: str = Field(description="the item's implementations, one per city, each with its 办事指南 "
                                             "(GET /api/v1/catalog/implementations/{id}/guide): the guide is a "
                                             "city's, so a list row links the cities' implementations of the item")


class ItemListRow(BaseModel):
    """An item as a mini-program's list shows it (`?view=summary`): its name, code, limit and the
    flags that are on, with links to the rest; a fraction of ItemRead's size."""

    id: uuid.UUID
    basic_code: str
    item_type: str
    name: str
    implementing_body: str | None
    promised_limit: int | None
    promised_limit_unit: LimitUnit | None
    visits: int | None
    flags: list[str] = Field(description="the names of the flags that are on (Flags), e.g. fully_online, nearby")
    cities: list[str]
    status: ItemStatus
    links: ItemLinks

    @classmethod
    def of(cls, item: Any) -> "ItemListRow":
        flags = Flags.model_validate(item.flags or {})
        on = [name for name, value in flags.model_dump().items() if value is True]
        return cls(id=item.id, basic_code=item.basic_code, item_type=item.item_type, name=item.name,
                   implementing_body=item.implementing_body, promised_limit=item.promised_limit,
                   promised_limit_unit=item.promised_limit_unit, visits=item.visits, flags=on,
                   cities=list(item.cities or []), status=item.status,
                   links=ItemLinks(self=f"/api/v1/catalog/items/{item.id}",
                                   implementations=f"/api/v1/catalog/implementations?basic_code={item.basic_code}"))
