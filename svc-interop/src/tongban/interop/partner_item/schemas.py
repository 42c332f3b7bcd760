import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict


class PartnerItemRead(BaseModel):
    """A partner city's item, shown as theirs: cases for it are accepted here and forwarded there."""

    model_config = ConfigDict(from_attributes=True)

    partner: str
    item_id: uuid.UUID
    basic_code: str
    name: str
    case_type: str | None
    version: int
    withdrawn: bool
    synced_at: dt.datetime


class SyncRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    partner: str
    kind: str
    ok: bool
    count: int
    detail: str | None
    attempted_at: dt.datetime
    succeeded_at: dt.datetime | None
