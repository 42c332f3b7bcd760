"""Event payloads published by svc-catalog (subjects `catalog.*`). Version 1: only additive changes."""

from __future__ import annotations

import uuid

from pydantic import BaseModel

ITEM_PUBLISHED = "catalog.item.published"


class ItemPublishedV1(BaseModel):
    """A standard item was published or republished (a new version)."""

    item_id: uuid.UUID
    basic_code: str
    name: str
    item_type: str
    version: int
    case_type: str
    promised_limit: int | None = None
    promised_limit_unit: str | None = None
