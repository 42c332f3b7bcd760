import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, LargeBinary, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.credentials.db import Base


class TrustedRegion(Base):
    """A partner city (深中互认) whose licence issuers' keys we trust, by GB/T 2260 region code."""

    __tablename__ = "trusted_region"

    region_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # Where its signed status lists are published: a URL with `{list}` (the presentation's list id).
    status_list_url: Mapped[str | None] = mapped_column(String(500))
    updated_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TrustedKey(Base):
    """A partner issuer's public key. A key dropped from the partner's set is retired, never
    deleted: it keeps verifying what it signed before."""

    __tablename__ = "trusted_key"
    __table_args__ = (CheckConstraint("algorithm IN ('Ed25519', 'SM2')", name="algorithm"),)

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("trusted_region.region_code"), index=True)
    issuer_code: Mapped[str] = mapped_column(String(18))
    algorithm: Mapped[str] = mapped_column(String(10))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(10), default="active")   # active | retired
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class LicenceTypeMapping(Base):
    """A partner city's licence type that stands for one of ours (a Shenzhen 营业执照 for ours)."""

    __tablename__ = "licence_type_mapping"
    __table_args__ = (UniqueConstraint("region_code", "partner_type_code", "our_type_code",
                                       name="uq_licence_type_mapping_pair"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    region_code: Mapped[str] = mapped_column(String(6))
    partner_type_code: Mapped[str] = mapped_column(String(40))
    partner_type_name: Mapped[str] = mapped_column(String(200))
    our_type_code: Mapped[str] = mapped_column(String(40), index=True)
    note: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
