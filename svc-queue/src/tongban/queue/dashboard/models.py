"""The dashboard's read model of svc-cases' events: one row per case and per rating, kept from
`cases.case.*`, `cases.rating.*` and `cases.remedy.*` (svc-queue never reads svc-cases' tables)."""

import datetime as dt
import uuid

from sqlalchemy import Boolean, Date, DateTime, Index, Integer, String
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.queue.db import Base


class DashboardCase(Base):
    """What the dashboard knows of a case. Events may arrive out of order (several durable
    consumers, redeliveries): each fact has its own column, and `state` follows the latest `at`."""

    __tablename__ = "dashboard_case"
    __table_args__ = (
        Index("ix_dashboard_case_submitted", "submitted_at"),
        Index("ix_dashboard_case_decided", "decided_at"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    case_number: Mapped[str] = mapped_column(String(64))
    item_basic_code: Mapped[str] = mapped_column(String(32))
    department: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(32))
    state_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    decision: Mapped[str | None] = mapped_column(String(16))
    instant: Mapped[bool] = mapped_column(Boolean, default=False)
    deadline_on: Mapped[dt.date | None] = mapped_column(Date)
    warned_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    overdue_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class DashboardRating(Base):
    """A rating (好差评) and its remedy (整改), from either event first."""

    __tablename__ = "dashboard_rating"
    __table_args__ = (Index("ix_dashboard_rating_rated", "rated_at"),)

    rating_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    department: Mapped[str | None] = mapped_column(String(32))
    level: Mapped[int | None] = mapped_column(Integer)
    rated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    remedy_state: Mapped[str | None] = mapped_column(String(16))
    remedy_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
