import datetime as dt
import uuid

from sqlalchemy import (
    CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func, text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.queue.db import Base

# Calling order inside one skill weight: appointments, then the green channel, then everyone else.
PRIORITY_APPOINTMENT, PRIORITY_GREEN, PRIORITY_NORMAL = 2, 1, 0
OPEN_STATUSES = ("waiting", "called", "serving")


class Ticket(Base):
    """A ticket (取号) of a hall for one day. Status: waiting → called → serving → done, or
    no_show / cancelled. A transfer puts it back to waiting, keeping its place (`queued_at`)."""

    __tablename__ = "ticket"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating"),
        UniqueConstraint("hall_id", "day", "number"),
        # The call-next scan: per hall, day and category, in the whole calling order (the id last:
        # a claim stops at the first ticket it can lock, no sort), waiting tickets only.
        Index("ix_ticket_waiting", "hall_id", "day", "category", text("priority DESC"), "queued_at", "id",
              postgresql_where=text("status = 'waiting'")),
        # Tickets sent to a counter, in calling order: the claim's first pick (nearly always empty).
        Index("ix_ticket_targeted", "target_counter_id", text("priority DESC"), "queued_at", "id",
              postgresql_where=text("status = 'waiting' AND target_counter_id IS NOT NULL")),
        Index("ix_ticket_hall_day_status", "hall_id", "day", "status"),
        # The wait estimate's rolling average: a category's last services, newest first.
        Index("ix_ticket_done_recent", "hall_id", "category", text("finished_at DESC"),
              postgresql_where=text("status = 'done'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    hall_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hall.id", ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column(Date)
    category: Mapped[str] = mapped_column(String(1))
    number: Mapped[str] = mapped_column(String(10))
    item_code: Mapped[str | None] = mapped_column(String(12))
    priority: Mapped[int] = mapped_column(Integer, default=PRIORITY_NORMAL)
    priority_reason: Mapped[str | None] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    person_sub: Mapped[str | None] = mapped_column(String(200), index=True)
    id_number: Mapped[str | None] = mapped_column(String(18))
    status: Mapped[str] = mapped_column(String(10), default="waiting")
    target_counter_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    counter_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    case_id: Mapped[str | None] = mapped_column(String(64))
    call_count: Mapped[int] = mapped_column(Integer, default=0)
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    queued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    called_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    approach_notified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TicketSequence(Base):
    """The last number given per hall, day and category prefix (A001, A002, ...)."""

    __tablename__ = "ticket_sequence"

    hall_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(1), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)
