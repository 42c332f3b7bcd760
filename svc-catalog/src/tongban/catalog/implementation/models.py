import datetime as dt
import uuid
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.catalog.db import Base


class Implementation(Base):
    """An item as one city runs it (实施清单), identified by its 31-character implementation code."""

    __tablename__ = "implementation"
    __table_args__ = (UniqueConstraint("basic_code", "city_code"), Index("ix_implementation_item_id", "item_id"),
                      Index("ix_implementation_city_code", "city_code", "basic_code"))

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(31), unique=True)
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("item.id"))
    basic_code: Mapped[str] = mapped_column(String(12))
    city_code: Mapped[str] = mapped_column(String(6))
    implementing_body: Mapped[str] = mapped_column(String(200))
    implementing_body_credit_code: Mapped[str] = mapped_column(String(18))
    level: Mapped[str] = mapped_column(String(1))
    statutory_limit: Mapped[int | None] = mapped_column(Integer)
    statutory_limit_unit: Mapped[str | None] = mapped_column(String(20))
    promised_limit: Mapped[int | None] = mapped_column(Integer)
    promised_limit_unit: Mapped[str | None] = mapped_column(String(20))
    fees: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    materials: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    handling_forms: Mapped[list[str]] = mapped_column(ARRAY(String(20)), default=list, server_default="{}")
    visits: Mapped[int] = mapped_column(Integer)
    halls: Mapped[list[str]] = mapped_column(ARRAY(String(200)), default=list, server_default="{}")
    online_depth: Mapped[int] = mapped_column(Integer)
    flags: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    consultation_phone: Mapped[str | None] = mapped_column(String(30))
    notes: Mapped[str | None] = mapped_column(Text)
    synthetic: Mapped[bool] = mapped_column(default=False, server_default="false")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())
