import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger, Boolean, CheckConstraint, Computed, DateTime, ForeignKey, Index, Integer, String, Text, func, text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.catalog.db import Base


class Item(Base):
    """A standard service item (事项) of the catalogue, identified by its 12-character basic code.

    Nested elements (materials, fees, steps, FAQ, flags, form) are value objects read and written
    with the item, so they live in JSONB columns. `search_tokens`, `title_tokens`, `initials`, `cities` and
    `departments` are search keys the service recomputes on every write.
    """

    __tablename__ = "item"
    # The search's indexes (tongban.catalog.search): tokens and initials looked up by GIN, and the
    # published items ordered by name length for the short-query window.
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'published', 'retired')", name="status"),
        Index("ix_item_status_item_type", "status", "item_type"),
        Index("ix_item_search_tokens", "search_tokens", postgresql_using="gin"),
        Index("ix_item_title_tokens", "title_tokens", postgresql_using="gin"),
        Index("ix_item_initials_trgm", "initials", postgresql_using="gin", postgresql_ops={"initials": "gin_trgm_ops"}),
        Index("ix_item_published_name_length", text("char_length(name)"), "basic_code",
              postgresql_where=text("status = 'published'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    basic_code: Mapped[str] = mapped_column(String(12), unique=True)
    item_type: Mapped[str] = mapped_column(String(2), Computed("substr(basic_code, 3, 2)", persisted=True))
    name: Mapped[str] = mapped_column(String(200))
    aliases: Mapped[list[str]] = mapped_column(ARRAY(String(200)), default=list)
    exercise_level: Mapped[int] = mapped_column(Integer)
    legal_basis: Mapped[str | None] = mapped_column(Text)
    case_type: Mapped[str] = mapped_column(String(20))
    statutory_limit: Mapped[int | None] = mapped_column(Integer)
    statutory_limit_unit: Mapped[str | None] = mapped_column(String(20))
    promised_limit: Mapped[int | None] = mapped_column(Integer)
    promised_limit_unit: Mapped[str | None] = mapped_column(String(20))
    implementing_body: Mapped[str | None] = mapped_column(String(200))
    implementing_body_credit_code: Mapped[str | None] = mapped_column(String(18))
    acceptance_conditions: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")
    process_steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    fees: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    service_objects: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list, server_default="{}")
    themes: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list, server_default="{}")
    life_events: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list, server_default="{}")
    handling_forms: Mapped[list[str]] = mapped_column(ARRAY(String(20)), default=list, server_default="{}")
    visits: Mapped[int | None] = mapped_column(Integer)
    result_name: Mapped[str | None] = mapped_column(String(200))
    result_licence_type: Mapped[str | None] = mapped_column(String(40))
    consultation_phone: Mapped[str | None] = mapped_column(String(30))
    supervision_phone: Mapped[str | None] = mapped_column(String(30))
    faq: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    materials: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    flags: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    form_schema: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=dict, server_default='{"type": "object", "required": [], "properties": {}}')
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    status: Mapped[str] = mapped_column(String(20), default="published", server_default="published")
    version: Mapped[int] = mapped_column(Integer, default=1)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    cities: Mapped[list[str]] = mapped_column(ARRAY(String(6)), default=list, server_default="{}")
    departments: Mapped[list[str]] = mapped_column(ARRAY(String(200)), default=list, server_default="{}")
    search_tokens: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")
    # name and aliases only
    title_tokens: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")
    initials: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The search generation of the last write (search.cache.bump): what a search index reads to catch up.
    search_seq: Mapped[int] = mapped_column(BigInteger, server_default="0", index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())


class ItemVersion(Base):
    """Each published version of an item, as it was announced (the event's record)."""

    __tablename__ = "item_version"

    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    record: Mapped[dict[str, Any]] = mapped_column(JSONB)
    reason: Mapped[str | None] = mapped_column(Text)
    published_by: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
