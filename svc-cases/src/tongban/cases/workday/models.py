import datetime as dt

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tongban.cases.db import Base


class WorkdayOverride(Base):
    """An admin's word on one date, taking precedence over `chinese-calendar` (and covering the
    years it does not know yet, once the State Council publishes them)."""

    __tablename__ = "workday_override"

    on_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(200))
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())


class CalendarYear(Base):
    """A year's official schedule of holidays and adjusted working days (调休), as the State
    Council's notice (国务院办公厅关于某年部分节假日安排的通知) publishes it, imported by an admin."""

    __tablename__ = "calendar_year"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    notice_number: Mapped[str] = mapped_column(String(100))   # 国办发明电〔2026〕N号
    notice_date: Mapped[dt.date] = mapped_column(Date)
    holidays: Mapped[list[str]] = mapped_column(JSONB)
    adjusted_workdays: Mapped[list[str]] = mapped_column(JSONB)
    revision: Mapped[int] = mapped_column(Integer, default=1)  # a re-import with corrections replaces the year
    # The revision whose deadline recomputation has finished (calendar_flow); behind `revision`: pending.
    recomputed_revision: Mapped[int | None] = mapped_column(Integer)
    imported_by: Mapped[str] = mapped_column(String(100))
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OfficialDay(Base):
    """Every day of an imported year, expanded from its schedule (the calendar reads days, not rules)."""

    __tablename__ = "official_day"

    on_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    year: Mapped[int] = mapped_column(ForeignKey("calendar_year.year", ondelete="CASCADE"), index=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
