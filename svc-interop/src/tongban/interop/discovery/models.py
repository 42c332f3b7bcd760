import datetime as dt
import uuid

from sqlalchemy import Boolean, DateTime, Integer, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.interop.db import Base


class CrossCityItem(Base):
    """Our catalogue items as svc-catalog announces them, with their cross-city (深中通办) flag.

    Every item is kept (so a flag turned on later needs no replay); partners see only those with
    `cross_city` and not retired.
    """

    __tablename__ = "cross_city_item"

    item_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    basic_code: Mapped[str] = mapped_column(String(20), index=True)
    name: Mapped[str] = mapped_column(String(200))
    case_type: Mapped[str | None] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    cross_city: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    retired: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    synced_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                   onupdate=func.now())
