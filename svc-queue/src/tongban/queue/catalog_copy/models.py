import datetime as dt
import uuid

from sqlalchemy import DateTime, Integer, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.queue.db import Base


class CatalogItem(Base):
    """svc-queue's read copy of a catalogue item (from `catalog.item.*`), so counter skills and
    tickets can name item codes that really exist."""

    __tablename__ = "catalog_item"

    item_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    basic_code: Mapped[str] = mapped_column(String(12), index=True)
    name: Mapped[str] = mapped_column(String(200))
    item_type: Mapped[str] = mapped_column(String(2))
    version: Mapped[int] = mapped_column(Integer)
    synced_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                   onupdate=func.now())
