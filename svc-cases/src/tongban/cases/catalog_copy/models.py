import datetime as dt
import uuid

from sqlalchemy import DateTime, Integer, String, func
from sqlalchemy.dialects.postgresql import UUID
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
    status: Mapped[str] = mapped_column(String(20), default="published")
    synced_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                   onupdate=func.now())
