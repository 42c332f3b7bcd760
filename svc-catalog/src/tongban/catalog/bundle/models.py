import datetime as dt
import uuid
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.catalog.db import Base


class Bundle(Base):
    """A one-thing bundle (一件事): items applied for together with one form and one set of
    materials. The merged form, materials, fees and limits are computed when it is published and
    kept with it, so a later change to an item shows only when the bundle is published again."""

    __tablename__ = "bundle"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    city_code: Mapped[str | None] = mapped_column(String(6))
    item_codes: Mapped[list[str]] = mapped_column(ARRAY(String(12)))
    merged: Mapped[dict[str, Any]] = mapped_column(JSONB)
    synthetic: Mapped[bool] = mapped_column(default=False, server_default="false")
    status: Mapped[str] = mapped_column(String(20), default="published")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())
