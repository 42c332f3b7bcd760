import datetime as dt
import uuid

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.interop.db import Base


class PartnerItem(Base):
    """A partner city's cross-city item, as its discovery (`GET /exchange/items`) lists it: what
    a counter here may accept a case for and forward there. `withdrawn` once the partner stops
    listing it (kept, so cases already forwarded still name it)."""

    __tablename__ = "partner_item"

    partner: Mapped[str] = mapped_column(ForeignKey("partner.region_code", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    basic_code: Mapped[str] = mapped_column(String(20), index=True)
    name: Mapped[str] = mapped_column(String(200))
    case_type: Mapped[str | None] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    synced_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PartnerSync(Base):
    """The last pull of one kind (`items`, `issuer_keys`) from one partner: when, whether it worked."""

    __tablename__ = "partner_sync"

    partner: Mapped[str] = mapped_column(ForeignKey("partner.region_code", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    detail: Mapped[str | None] = mapped_column(Text)
    attempted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    succeeded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
