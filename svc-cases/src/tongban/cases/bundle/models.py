import datetime as dt
import uuid
from typing import Any

from sqlalchemy import DateTime, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.cases.db import Base


class CatalogBundle(Base):
    """svc-cases' read copy of a one-thing bundle (一件事), from `catalog.bundle.published`."""

    __tablename__ = "catalog_bundle"

    bundle_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    code: Mapped[str] = mapped_column(String(60), index=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    item_codes: Mapped[list[str]] = mapped_column(JSONB)
    city_code: Mapped[str | None] = mapped_column(String(6))
    # The bundle's deduplicated materials (merged.materials: each with `for_items`); None: not sent.
    materials: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    synced_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                   onupdate=func.now())


class BundleCase(Base):
    """One application for a bundle: one form, one child case per item, handled in parallel by
    each department; complete when every child is settled, with the outcome saying which failed."""

    __tablename__ = "bundle_case"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    case_number: Mapped[str] = mapped_column(String(19), unique=True)
    bundle_code: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(200))
    applicant_type: Mapped[str] = mapped_column(String(10))
    applicant_id: Mapped[str] = mapped_column(String(18), index=True)
    submitted_by: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20))             # draft | in_progress | completed
    outcome: Mapped[str | None] = mapped_column(String(20))    # approved | partial | denied
    outcome_detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
