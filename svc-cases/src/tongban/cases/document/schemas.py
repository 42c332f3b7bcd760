import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Kind = Literal["acceptance", "supplement", "refusal", "decision"]


class CaseDocumentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind


class CaseDocumentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    case_id: uuid.UUID
    kind: Kind
    title: str
    number: str
    status: Literal["sealing", "sealed", "failed"]
    failure: str | None
    facts: dict[str, Any]
    sha256: str | None
    seal_name: str | None
    sealed_at: dt.datetime | None
    created_at: dt.datetime
