import datetime as dt
import uuid

from sqlalchemy import DateTime, ForeignKey, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.gateway.db import Base


class RealNameCheck(Base):
    """A real-name provider's signed answer that raised an account to `verified`, kept as received
    (anyone can re-check its signature later), once: an answer is never used twice."""

    __tablename__ = "real_name_verification"
    __table_args__ = (UniqueConstraint("provider", "answer_id", name="uq_real_name_verification_answer"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("gateway.account.id"), index=True)
    provider: Mapped[str] = mapped_column(String(50))
    answer_id: Mapped[str] = mapped_column(String(100))
    id_number: Mapped[str] = mapped_column(String(18))
    name: Mapped[str] = mapped_column(String(200))
    answer: Mapped[str] = mapped_column(Text)
    checked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
