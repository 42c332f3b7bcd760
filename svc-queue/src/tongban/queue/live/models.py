import datetime as dt
import uuid

from sqlalchemy import Date, DateTime, ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from tongban.queue.db import Base


class HallStatsPublished(Base):
    """The last statistics event sent for a hall and day (a digest of its figures), so the
    periodic publication sends a hall's figures again only when they changed."""

    __tablename__ = "hall_stats_published"

    hall_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hall.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
