import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, LargeBinary, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column
from tongban.cases.db import Base


class CaseDocument(Base):
    """A notice or decision issued on a case (受理通知书, 补正材料通知书, 不予受理通知书, 决定书): what it
    says (`facts`, as printed), and the PDF as sealed by the department's seal at svc-credentials."""

    __tablename__ = "case_document"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))          # acceptance | supplement | refusal | decision
    title: Mapped[str] = mapped_column(String(100))
    number: Mapped[str] = mapped_column(String(40))         # 文号
    facts: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(10))         # sealing | sealed | failed
    failure: Mapped[str | None] = mapped_column(Text)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    sha256: Mapped[str | None] = mapped_column(String(64))
    seal_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    seal_name: Mapped[str | None] = mapped_column(String(220))
    seal_use_id: Mapped[int | None] = mapped_column(BigInteger)
    sealed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
