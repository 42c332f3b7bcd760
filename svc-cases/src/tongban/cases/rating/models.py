import datetime as dt
import uuid

from sqlalchemy import Boolean, CheckConstraint, Date, DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.cases.db import Base


class Rating(Base):
    """The applicant's rating (好差评) of a completed case: one per case, 5 very satisfied … 1 very
    dissatisfied; `defaulted` when the platform gave the default for an unrated case."""

    __tablename__ = "rating"
    __table_args__ = (CheckConstraint("level BETWEEN 1 AND 5", name="level"),)   # ck_rating_level

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id"), unique=True)
    basic_code: Mapped[str] = mapped_column(String(12), index=True)
    department: Mapped[str] = mapped_column(String(18), index=True)
    counter: Mapped[str | None] = mapped_column(String(100))   # the clerk who took a counter case
    level: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    defaulted: Mapped[bool] = mapped_column(Boolean, default=False)
    rated_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Remedy(Base):
    """The remedy task (整改) a bad rating opens for the handling department, tracked to closure."""

    __tablename__ = "remedy"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    rating_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rating.id"), unique=True)
    case_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    department: Mapped[str] = mapped_column(String(18), index=True)
    state: Mapped[str] = mapped_column(String(10))             # open | closed
    due_on: Mapped[dt.date] = mapped_column(Date)
    result: Mapped[str | None] = mapped_column(Text)
    callback_result: Mapped[str | None] = mapped_column(String(20))  # satisfied | unsatisfied | unreachable
    closed_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
