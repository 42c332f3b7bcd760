import datetime as dt

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from tongban.interop.db import Base


class Nonce(Base):
    """A nonce seen from a partner, kept until its message could no longer pass the clock check."""

    __tablename__ = "nonce"

    partner: Mapped[str] = mapped_column(String(6), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
