import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.queue.db import Base

WEIGHTS = {"exclude": 0, "low": 1, "normal": 2, "high": 3}
WEIGHT_NAMES = {v: k for k, v in WEIGHTS.items()}


class Counter(Base):
    """A counter (窗口) of a hall. `status`: closed (nobody signed in), open, paused."""

    __tablename__ = "counter"
    __table_args__ = (
        UniqueConstraint("hall_id", "number"),
        # One counter per clerk at a time.
        Index("uq_counter_clerk_sub", "clerk_sub", unique=True, postgresql_where=text("clerk_sub IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    hall_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hall.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(10), default="closed")
    clerk_sub: Mapped[str | None] = mapped_column(String(200))
    signed_in_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    current_ticket_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())


class CounterSkill(Base):
    """What a counter serves: a ticket category or an item code (`kind`), with a weight 0-3
    (exclude, low, normal, high). An item skill overrides its category's weight."""

    __tablename__ = "counter_skill"
    __table_args__ = (CheckConstraint("weight BETWEEN 0 AND 3", name="weight"),)

    counter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("counter.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    value: Mapped[str] = mapped_column(String(12), primary_key=True)
    weight: Mapped[int] = mapped_column(Integer)
