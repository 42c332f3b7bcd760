import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger, CheckConstraint, DateTime, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, func, text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.credentials.db import Base


class RegistrationItem(Base):
    """An item (by basic code) whose approval for a company registers it: seals are issued then."""

    __tablename__ = "registration_item"

    basic_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(200), server_default="system:migration")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Seal(Base):
    """A company's e-seal (电子印章). Its private key lives in the key store under `kid`; a revoked
    seal stays so what it sealed before still verifies."""

    __tablename__ = "seal"
    __table_args__ = (
        CheckConstraint("kind IN ('legal_name', 'finance', 'contract', 'invoice', 'department')", name="kind"),
        CheckConstraint("status IN ('active', 'revoked')", name="status"),
        CheckConstraint("algorithm IN ('Ed25519', 'SM2')", name="algorithm"),
        UniqueConstraint("source_case_id", "kind"),
        Index("uq_seal_active_kind", "company_code", "kind", unique=True, postgresql_where=text("status = 'active'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    company_code: Mapped[str] = mapped_column(String(18))
    company_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(12))            # legal_name | finance | contract | invoice
    name: Mapped[str] = mapped_column(String(220))
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    algorithm: Mapped[str] = mapped_column(String(10))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(10), default="active")   # active | revoked
    source: Mapped[str] = mapped_column(String(12))          # registration | request
    source_case_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_reason: Mapped[str | None] = mapped_column(String(500))


class SealDelegation(Base):
    """The legal representative lets one named staff member apply one seal, until `expires_at`."""

    __tablename__ = "seal_delegation"
    __table_args__ = (Index("ix_seal_delegation_seal_grantee", "seal_id", "grantee_sub"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    seal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("seal.id"))
    grantee_sub: Mapped[str] = mapped_column(String(200))     # the staff member's account (token `sub`)
    grantee_name: Mapped[str] = mapped_column(String(100))
    granted_by: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_reason: Mapped[str | None] = mapped_column(String(500))


class SealUse(Base):
    """One application of a seal (用章), or a refused attempt: who, when, which document hash."""

    __tablename__ = "seal_use"
    __table_args__ = (
        Index("ix_seal_use_company", "company_code", "at"), Index("ix_seal_use_seal", "seal_id", "at"),
        CheckConstraint("outcome IN ('applied', 'refused')", name="outcome"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    seal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("seal.id"))
    company_code: Mapped[str] = mapped_column(String(18))
    actor: Mapped[str] = mapped_column(String(200))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    delegation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # An agent of the company applying under a gateway delegation (委托) granting `seal.use`: its id.
    # The principal is always the company (`company_code`); the actor is `actor`.
    agency_delegation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    hash_algorithm: Mapped[str] = mapped_column(String(8))
    document_hash: Mapped[str] = mapped_column(String(64))
    document_name: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(10))          # applied | refused
    refusal: Mapped[str | None] = mapped_column(String(40))
    signature: Mapped[str | None] = mapped_column(String(200))
    # The platform TSA's RFC 3161-shaped token over the seal signature (seal/timestamp.py).
    timestamp_token: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
