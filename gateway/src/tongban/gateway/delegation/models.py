import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, String, func
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.gateway.db import Base


class Delegation(Base):
    """A delegation (委托): an agent account may act for a principal — a company, or a person (an
    elderly parent, a child) — on some items and actions, from `starts_at` until `expires_at`.
    Granted online by the principal (a company's legal representative or administrator, a
    verified citizen) or witnessed by a clerk at a counter with the written 委托书 referenced."""

    __tablename__ = "delegation"
    __table_args__ = (
        CheckConstraint("principal_kind IN ('person', 'company')", name="principal_kind"),
        CheckConstraint("granted_via = 'online' OR (witnessed_by IS NOT NULL AND document_ref IS NOT NULL)",
                        name="witnessed"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    principal_kind: Mapped[str] = mapped_column(String(10), server_default="company")   # person | company
    principal_id: Mapped[str] = mapped_column(String(18), index=True)   # resident ID number or credit code
    principal_name: Mapped[str | None] = mapped_column(String(200))
    credit_code: Mapped[str | None] = mapped_column(String(18), index=True)   # company principals
    # Who granted it: the principal's own account online, or None when witnessed at a counter.
    representative_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("gateway.account.id"))
    agent_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("gateway.account.id"), index=True)
    items: Mapped[list[str]] = mapped_column(ARRAY(String(50)))
    actions: Mapped[list[str]] = mapped_column(ARRAY(String(20)), server_default="{read,apply}")
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    granted_via: Mapped[str] = mapped_column(String(10), server_default="online")       # online | counter
    witnessed_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))         # the clerk
    hall: Mapped[str | None] = mapped_column(String(50))
    document_ref: Mapped[str | None] = mapped_column(String(200))                      # the 委托书
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_reason: Mapped[str | None] = mapped_column(String(500))
