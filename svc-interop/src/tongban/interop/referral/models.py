import datetime as dt
import uuid
from typing import Any

from sqlalchemy import DateTime, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.interop.db import Base


class Referral(Base):
    """A hotline ticket (12345) or a company migration (企业迁移) received from, or sent to, a partner.

    `kind` is `hotline` or `company_migration`; `direction` `inbound` or `outbound`.
    """

    __tablename__ = "referral"
    __table_args__ = (UniqueConstraint("partner", "direction", "kind", "partner_ref"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    reference_number: Mapped[str] = mapped_column(String(60), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    direction: Mapped[str] = mapped_column(String(8))
    partner: Mapped[str] = mapped_column(String(6), index=True)
    partner_ref: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(30))
    # The ticket's steps in the handling city (replied, closed, reopened), ordered by their time.
    progress: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
