import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, DateTime, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.gateway.db import Base


class TokenRevocation(Base):
    """Access tokens that stop working before their `exp`: those of a login (`sid`), those resting
    on a delegation, or a subject's tokens issued before `cutoff`. Kept until `expires_at`, when
    every token the row can refuse has expired anyway; each gateway process holds the live rows
    in memory (`denylist.DenyList`)."""

    __tablename__ = "token_revocation"
    __table_args__ = (
        CheckConstraint("kind IN ('sid', 'delegation', 'subject')", name="kind"),
        CheckConstraint("(kind = 'subject') = (cutoff IS NOT NULL)", name="cutoff"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(12))
    value: Mapped[str] = mapped_column(String(120))
    cutoff: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
