import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, Text, Time, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.queue.db import Base

# Statuses that take a place in a slot (a hold only until it expires).
LIVE_STATUSES = ("held", "confirmed", "checked_in")


class SlotTemplate(Base):
    """A recurring slot of a hall and category: every `weekday` (ISO) from `starts` to `ends`,
    for `capacity` people."""

    __tablename__ = "slot_template"
    __table_args__ = (
        CheckConstraint("capacity > 0", name="capacity"),
        CheckConstraint("weekday BETWEEN 1 AND 7", name="weekday"),
        CheckConstraint("ends > starts", name="times"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    hall_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hall.id", ondelete="CASCADE"), index=True)
    category: Mapped[str] = mapped_column(String(1))
    weekday: Mapped[int] = mapped_column(Integer)
    starts: Mapped[dt.time] = mapped_column(Time)
    ends: Mapped[dt.time] = mapped_column(Time)
    capacity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Slot(Base):
    """One template on one day; exists to be row-locked while its places are counted."""

    __tablename__ = "slot"

    template_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("slot_template.id", ondelete="CASCADE"),
                                                   primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)


class Appointment(Base):
    """A booking (预约). held → confirmed → checked_in; or expired (hold not confirmed in time),
    cancelled (by the person, a reschedule, or a hall closure), missed (never checked in)."""

    __tablename__ = "appointment"
    __table_args__ = (
        # One booking per person, category and day.
        Index("uq_appointment_person_category_day", "person_key", "category", "day", unique=True,
              postgresql_where=text("status IN ('held', 'confirmed', 'checked_in')")),
        Index("ix_appointment_slot", "template_id", "day"),
        Index("ix_appointment_hall_day", "hall_id", "day"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    hall_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hall.id", ondelete="CASCADE"))
    template_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("slot_template.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(1))
    day: Mapped[dt.date] = mapped_column(Date)
    starts: Mapped[dt.time] = mapped_column(Time)
    ends: Mapped[dt.time] = mapped_column(Time)
    person_sub: Mapped[str] = mapped_column(String(200), index=True)
    # The person as the booking rules count them: resident ID number, else the account.
    person_key: Mapped[str] = mapped_column(String(200), index=True)
    id_number: Mapped[str | None] = mapped_column(String(18))
    status: Mapped[str] = mapped_column(String(12))
    hold_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    checked_in_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    missed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reminded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # The draft case the person prefilled in the mini-program; its check-in ticket carries it.
    case_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
