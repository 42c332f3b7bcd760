import datetime as dt

from sqlalchemy import Boolean, Date, DateTime, String, func
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
