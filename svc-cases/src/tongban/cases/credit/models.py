import datetime as dt
import uuid

from sqlalchemy import Date, DateTime, String, Text, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.cases.db import Base


class CreditRecord(Base):
    """A subject's credit level as the city's public credit platform last said (信用等级 A–D)."""

    __tablename__ = "credit_record"

    subject_id: Mapped[str] = mapped_column(String(18), primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(10))
    level: Mapped[str] = mapped_column(String(1))
    source: Mapped[str] = mapped_column(String(40))
    fetched_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class CreditListEntry(Base):
    """A red (守信激励) or black (失信惩戒) list entry: from the platform, or from a broken commitment."""

    __tablename__ = "credit_list_entry"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    subject_id: Mapped[str] = mapped_column(String(18), index=True)
    list: Mapped[str] = mapped_column(String(5))              # red | black
    source: Mapped[str] = mapped_column(String(60))
    reason: Mapped[str] = mapped_column(Text)
    listed_on: Mapped[dt.date] = mapped_column(Date)
    until: Mapped[dt.date | None] = mapped_column(Date)
    case_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CommitmentCheck(Base):
    """The follow-up check of a case approved on a commitment (告知承诺制 核查): due on `due_on`;
    found untrue, the subject is black-listed and its future commitments refused."""

    __tablename__ = "commitment_check"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True)
    case_number: Mapped[str] = mapped_column(String(19))
    subject_id: Mapped[str] = mapped_column(String(18), index=True)
    department: Mapped[str] = mapped_column(String(18), index=True)
    due_on: Mapped[dt.date] = mapped_column(Date, index=True)
    state: Mapped[str] = mapped_column(String(10), index=True)  # pending | due | kept | broken
    outcome_reason: Mapped[str | None] = mapped_column(Text)
    checked_by: Mapped[str | None] = mapped_column(String(100))
    checked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
