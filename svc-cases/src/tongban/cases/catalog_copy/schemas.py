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
    department: str | None = None
    result_licence_type: str | None = None
    status: str = "published"
    synced_at: dt.datetime
