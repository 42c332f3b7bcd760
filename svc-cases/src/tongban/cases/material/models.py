import datetime as dt
import uuid

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.cases.db import Base


class Document(Base):
    """An uploaded file in the service's document store (content kept in the database: files are
    small, and a case and its materials then commit, back up and restore together)."""

    __tablename__ = "document"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    uploaded_by: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(200))
    mime_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)  # loaded only when downloaded
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CaseMaterial(Base):
    """A material of a case: an uploaded document, or a licence the applicant let the department
    use (免证办) with how it was verified at svc-credentials."""

    __tablename__ = "case_material"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))                       # upload | licence
    document_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("document.id"))
    licence_type_code: Mapped[str | None] = mapped_column(String(40))
    licence_identifier: Mapped[str | None] = mapped_column(String(200))
    consent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    use_id: Mapped[int | None] = mapped_column(Integer)
    verification: Mapped[str | None] = mapped_column(String(30))      # licence-use | wallet-status | presentation[-<region>]
    added_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
