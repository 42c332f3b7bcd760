import datetime as dt
import uuid
from typing import Any

from sqlalchemy import DateTime, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.interop.db import Base


class OutgoingCase(Base):
    """A case accepted here for a partner city's item (异地受理) and forwarded to it.

    `progress` lists the partner's status changes as they arrive (newest last).
    """

    __tablename__ = "outgoing_case"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    case_number: Mapped[str] = mapped_column(String(60), unique=True)
    partner: Mapped[str] = mapped_column(String(6), index=True)
    item_code: Mapped[str] = mapped_column(String(20))
    applicant_id_number: Mapped[str] = mapped_column(String(18), index=True)
    applicant_name: Mapped[str] = mapped_column(String(100))
    form: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    status: Mapped[str] = mapped_column(String(30), default="forwarding", server_default="forwarding")
    remote_case_number: Mapped[str | None] = mapped_column(String(60))
    progress: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    # `company_migration`: the applicant is a company (credit code in applicant_id_number) and the
    # case here is svc-cases' approved migration-out case (local_case_id / local_case_number).
    kind: Mapped[str] = mapped_column(String(30), default="case", server_default="case")
    local_case_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), unique=True, index=True)
    local_case_number: Mapped[str | None] = mapped_column(String(60))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class IncomingCase(Base):
    """A case a partner city accepted for one of our items and forwarded here: the partner's
    reference beside the case svc-cases opened for it (`local_case_id`, `case_number`).
    `status` mirrors the case's state as svc-cases' events report it."""

    __tablename__ = "incoming_case"
    __table_args__ = (UniqueConstraint("partner", "partner_case_ref"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    case_number: Mapped[str] = mapped_column(String(60), unique=True)
    partner: Mapped[str] = mapped_column(String(6), index=True)
    partner_case_ref: Mapped[str] = mapped_column(String(100))
    partner_case_number: Mapped[str] = mapped_column(String(60))
    local_case_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), unique=True, index=True)
    item_code: Mapped[str] = mapped_column(String(20))
    applicant_id_number: Mapped[str] = mapped_column(String(18), index=True)
    applicant_name: Mapped[str] = mapped_column(String(100))
    form: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    status: Mapped[str] = mapped_column(String(30), default="received", server_default="received")
    kind: Mapped[str] = mapped_column(String(30), default="case", server_default="case")  # or company_migration
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
