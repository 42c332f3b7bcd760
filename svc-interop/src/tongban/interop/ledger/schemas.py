import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict


class ChainCheckRead(BaseModel):
    ok: bool
    entries: int
    head_seq: int | None
    head_hash: str | None
    broken_at: int | None
    problem: str | None


class MessageLogRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    at: dt.datetime
    direction: str
    partner: str | None
    message_id: str | None
    method: str
    target: str
    request_headers: dict[str, Any]
    response_status: int | None
    outcome: str
    reason: str | None
    prev_hash: str
    hash: str
