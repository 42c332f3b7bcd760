import datetime as dt
import uuid
from typing import Any

from sqlalchemy import DateTime, Index, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.cases.db import Base


class CatalogItem(Base):
    """svc-cases' read copy of a catalogue item, kept current from `catalog.item.*` events.

    `applied_events` counts the events applied to this row: with the inbox in front of the
    handler, a redelivered event is never applied again, and tests check this count.
    """

    __tablename__ = "catalog_item"

    item_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    basic_code: Mapped[str] = mapped_column(String(12), index=True)
    name: Mapped[str] = mapped_column(String(200))
    item_type: Mapped[str] = mapped_column(String(2))
    case_type: Mapped[str] = mapped_column(String(20))
    promised_limit: Mapped[int | None] = mapped_column(Integer)
    promised_limit_unit: Mapped[str | None] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    applied_events: Mapped[int] = mapped_column(Integer, default=1)
    # From the event's full record (absent in older events): who handles it, what it issues.
    department: Mapped[str | None] = mapped_column(String(18))
    result_licence_type: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="published", server_default="published")
    # The item's materials as the catalogue lists them (None: the event did not say).
    materials: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    synced_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                   onupdate=func.now())


class CatalogImplementation(Base):
    """svc-cases' read copy of a city's implementation (实施清单) of an item, from
    `catalog.implementation.published`: its code, handling department and its own material list."""

    __tablename__ = "catalog_implementation"
    __table_args__ = (Index("ix_catalog_implementation_basic_code_city", "basic_code", "city_code"),)

    implementation_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    code: Mapped[str] = mapped_column(String(31), index=True)
    basic_code: Mapped[str] = mapped_column(String(12))
    city_code: Mapped[str] = mapped_column(String(6))
    department: Mapped[str | None] = mapped_column(String(18))
    materials: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    # The city's fees as the catalogue lists them ({name, amount (yuan, a string), basis}); None:
    # the event did not say (older events). What a payment order charges (tongban.cases.payment).
    fees: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer)
    synced_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                   onupdate=func.now())
