import datetime as dt
import uuid

from sqlalchemy import BigInteger, DateTime, ForeignKey, LargeBinary, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.credentials.db import Base


class SealCertificate(Base):
    """The X.509 certificate of a department's document seal (PAdES needs one): self-issued, over the
    seal's key; the verification endpoint trusts exactly these."""

    __tablename__ = "seal_certificate"

    seal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("seal.id"), primary_key=True)
    certificate: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SealedDocument(Base):
    """A notice or decision sealed for svc-cases: which seal, which use, the digests before and after."""

    __tablename__ = "sealed_document"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    seal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("seal.id"), index=True)
    seal_use_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("seal_use.id"))
    title: Mapped[str] = mapped_column(String(200))
    reference: Mapped[str] = mapped_column(String(60))
    source_sha256: Mapped[str] = mapped_column(String(64))
    sealed_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(200))
    sealed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
