import datetime as dt
import uuid

from sqlalchemy import Boolean, DateTime, ForeignKey, String, func
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.credentials.db import Base


class Presentation(Base):
    """A QR code the holder showed (亮证): which licence, which fields, until when. No values."""

    __tablename__ = "presentation"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)        # 128 random bits, base64url
    licence_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("licence.id"), index=True)
    fields: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    single_use: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class PresentationCheck(Base):
    """The first online verification of a presentation, ours (`origin` '') or a partner city's
    (its region code): who verified it, and until when a second verifier means a replay."""

    __tablename__ = "presentation_check"

    origin: Mapped[str] = mapped_column(String(6), primary_key=True)
    pid: Mapped[str] = mapped_column(String(64), primary_key=True)
    verifier: Mapped[str] = mapped_column(String(200))
    first_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
