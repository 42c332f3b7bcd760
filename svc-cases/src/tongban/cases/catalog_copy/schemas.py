import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict


class CatalogItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    item_id: uuid.UUID
    basic_code: str
    name: str
    item_type: str
    case_type: str
    promised_limit: int | None
    promised_limit_unit: str | None
    version: int
    synced_at: dt.datetime
