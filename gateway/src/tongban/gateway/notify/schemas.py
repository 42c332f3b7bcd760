import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tongban.gateway.notify.templates import BOOK
from tongban.shared.fields import LocalTime
from tongban.shared.ids import mask_phone

# A mainland mobile number (11 digits, 13x-19x); anything else is 422.
MobilePhone = Annotated[str, Field(pattern=r"^1[3-9]\d{9}$", description="mainland China mobile number")]
KindKey = Literal[tuple(BOOK.kinds)]  # type: ignore[valid-type]
WeChatTemplateId = Literal[tuple(BOOK.wechat)]  # type: ignore[valid-type]


class MessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    urgent: bool
    title: str
    body: str
    created_at: dt.datetime
    read_at: dt.datetime | None


class UnreadCount(BaseModel):
    unread: int


class ReadAll(BaseModel):
    marked: int


class PreferenceUpdate(BaseModel):
    """Only the fields given change. Quiet hours are Beijing time; equal start and end: none."""

    model_config = ConfigDict(extra="forbid")

    sms: bool | None = None
    wechat: bool | None = None
    quiet_start: LocalTime | None = None
    quiet_end: LocalTime | None = None
    phone: MobilePhone | None = Field(default=None, description="SMS goes here (default: the account's number)")
    muted: list[KindKey] | None = Field(default=None, max_length=len(BOOK.kinds),  # type: ignore[valid-type]
                                        description="kinds of message not wanted")

    @model_validator(mode="after")
    def _both_ends(self) -> "PreferenceUpdate":
        if (self.quiet_start is None) != (self.quiet_end is None):
            raise ValueError("quiet hours need both quiet_start and quiet_end")
        for name in ("sms", "wechat"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} is true or false")
        return self


class PreferenceRead(BaseModel):
    sms: bool = True
    wechat: bool = True
    quiet_start: LocalTime
    quiet_end: LocalTime
    phone: str | None = None          # the owner's own, shown masked
    muted: list[str] = Field(default_factory=list)


class GrantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template_id: WeChatTemplateId = Field(description="the subscribe-message template she allowed once")  # type: ignore[valid-type]


class GrantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    template_id: str
    granted_at: dt.datetime
    consumed_at: dt.datetime | None


class DeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    message_id: uuid.UUID
    account_id: uuid.UUID
    channel: str
    address: str
    template_id: str
    status: str
    not_before: dt.datetime
    deferred: str | None
    attempts: int
    last_error: str | None
    sent_at: dt.datetime | None
    delivered_at: dt.datetime | None

    @classmethod
    def of(cls, row: Any) -> "DeliveryRead":
        read = cls.model_validate(row)
        if read.channel == "sms":
            read.address = mask_phone(read.address)
        return read


class Retry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class SinkRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: str
    address: str
    template_id: str
    variables: dict[str, Any]
    content: str
    provider_ref: str
    at: dt.datetime

    @classmethod
    def of(cls, row: Any) -> "SinkRead":
        read = cls.model_validate(row)
        if read.channel == "sms":
            read.address = mask_phone(read.address)
        return read


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: uuid.UUID
    role: Literal["head", "supervision"]
    department: str | None = Field(default=None, min_length=1, max_length=50, pattern=r"^[0-9A-Za-z_.-]+$",
                                   description="head: their department; supervision: one, or none for every one")
    reason: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _head_department(self) -> "ContactCreate":
        if self.role == "head" and self.department is None:
            raise ValueError("a department head names the department")
        return self


class ContactRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    account_id: uuid.UUID
    role: str
    department: str | None
    created_at: dt.datetime
