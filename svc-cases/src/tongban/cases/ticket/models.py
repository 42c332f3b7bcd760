import datetime as dt
import uuid

from sqlalchemy import Date, DateTime, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.cases.db import Base


class HotlineTicket(Base):
    """A 12345 hotline ticket (诉求) or a "could not get it done" report (办不成事): received,
    dispatched to a department, handled, replied, closed after a callback; supervised (督办) when
    overdue; reopened within a window."""

    __tablename__ = "hotline_ticket"
    # One ticket per referral, whatever happens to the inbox.
    __table_args__ = (Index("uq_hotline_ticket_referral", "referral_id", unique=True,
                            postgresql_where=text("referral_id IS NOT NULL")),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    ticket_number: Mapped[str] = mapped_column(String(18), unique=True)
    source: Mapped[str] = mapped_column(String(10))            # citizen | clerk | partner | rating
    # consultation | complaint | help | suggestion | unresolved (办不成事)
    category: Mapped[str] = mapped_column(String(20))
    citizen_id: Mapped[str | None] = mapped_column(String(18), index=True)
    contact_name: Mapped[str] = mapped_column(String(100))
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    content: Mapped[str] = mapped_column(Text)
    case_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    department: Mapped[str | None] = mapped_column(String(18), index=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    limit_working_days: Mapped[int] = mapped_column(Integer)
    received_on: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date] = mapped_column(Date, index=True)
    reply: Mapped[str | None] = mapped_column(Text)
    satisfaction: Mapped[str | None] = mapped_column(String(20))
    reopened: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    supervised_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    replied_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Referred by the partner city (source "partner"): svc-interop's referral, the partner's own
    # ticket number and category wording (ours is mapped from it).
    referral_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    partner_region: Mapped[str | None] = mapped_column(String(6))
    partner_ticket_number: Mapped[str | None] = mapped_column(String(40))
    partner_category: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())
