"""Event payloads published by svc-catalog (subjects `catalog.*`). Version 1: only additive changes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel

ITEM_PUBLISHED = "catalog.item.published"
ITEM_RETIRED = "catalog.item.retired"
IMPLEMENTATION_PUBLISHED = "catalog.implementation.published"
BUNDLE_PUBLISHED = "catalog.bundle.published"


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
    # Added in V1 (optional, so earlier events still validate):
    status: str | None = None
    exercise_level: int | None = None
    statutory_limit: int | None = None
    statutory_limit_unit: str | None = None
    # The whole item as `GET /api/v1/catalog/items/{id}` returns it (GB/T 39046 elements,
    # materials, flags, form schema), so consumers can keep a full read copy.
    record: dict[str, Any] | None = None


class ItemRetiredV1(BaseModel):
    """A standard item was retired: no new applications; existing cases carry on."""

    item_id: uuid.UUID
    basic_code: str
    name: str
    version: int
    reason: str
    retired_at: dt.datetime
    record: dict[str, Any] | None = None


class ImplementationPublishedV1(BaseModel):
    """A city's implementation (实施清单) of a standard item was published or republished."""

    implementation_id: uuid.UUID
    code: str                      # 31 characters: credit code + level + basic code
    item_id: uuid.UUID
    basic_code: str
    city_code: str                 # GB/T 2260: 442000 Zhongshan, 440300 Shenzhen
    version: int
    promised_limit: int | None = None
    promised_limit_unit: str | None = None
    record: dict[str, Any] | None = None


class BundlePublishedV1(BaseModel):
    """A one-thing bundle (一件事) was published: its items, merged form and materials."""

    bundle_id: uuid.UUID
    code: str
    name: str
    version: int
    item_codes: list[str]
    city_code: str | None = None
    record: dict[str, Any] | None = None
