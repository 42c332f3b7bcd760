"""The event envelope, CloudEvents-shaped: id, source, type, time, subject, data."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, Field
from tongban.shared import clock
from tongban.shared.tracing import current_traceparent


class Envelope(BaseModel):
    specversion: str = "1.0"
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    source: str                      # the publishing service, e.g. "tongban/catalog"
    type: str                        # the NATS subject: <service>.<entity>.<past-tense verb>
    time: dt.datetime = Field(default_factory=lambda: clock.now())
    subject: str | None = None       # the entity id the event is about
    dataversion: str = "1"
    correlationid: str | None = None  # the request id that caused it
    traceparent: str | None = None
    data: dict[str, Any]


def make_event(service: str, event_type: str, data: BaseModel | dict[str, Any], subject: str | None = None,
               correlation_id: str | None = None, data_version: str = "1") -> Envelope:
    payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
    return Envelope(source=f"tongban/{service}", type=event_type, data=payload, subject=subject,
                    correlationid=correlation_id, dataversion=data_version, traceparent=current_traceparent())
