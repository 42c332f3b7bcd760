import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict


class OutboundMessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    partner: str
    message_type: str
    method: str
    path: str
    case_number: str | None
    state: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    response_status: int | None
    response_body: dict[str, Any] | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None
