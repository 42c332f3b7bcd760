import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, Sequence, String, Text, UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.credentials.db import Base

SERIAL = Sequence("licence_serial", metadata=Base.metadata, start=100000001)


class StatusList(Base):
    """One W3C Bitstring Status List; licences take random, unique positions in it."""

    __tablename__ = "status_list"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    allocated: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Licence(Base):
    """One version of a licence. A change issues a new row (version + 1, same serial); the old
    row stays, marked superseded, so anything signed over it still verifies as such."""

    __tablename__ = "licence"
    __table_args__ = (
        CheckConstraint("status IN ('valid', 'suspended', 'revoked', 'superseded')", name="status"),
        UniqueConstraint("status_list_id", "status_index"),
        UniqueConstraint("serial", "version"),
        Index("ix_licence_holder", "holder_id", "issued_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    identifier: Mapped[str] = mapped_column(String(80), unique=True)
    type_code: Mapped[str] = mapped_column(ForeignKey("licence_type.code"), index=True)
    issuer_code: Mapped[str] = mapped_column(ForeignKey("issuer.code"))
    serial: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer)
    holder_type: Mapped[str] = mapped_column(String(3))
    holder_id: Mapped[str] = mapped_column(String(18))
    holder_name: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(12), default="valid")     # valid | suspended | revoked | superseded
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    superseded_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    kid: Mapped[str] = mapped_column(ForeignKey("signing_key.kid"))
    algorithm: Mapped[str] = mapped_column(String(10))
    signature: Mapped[str] = mapped_column(String(200))
    status_list_id: Mapped[int] = mapped_column(ForeignKey("status_list.id"))
    status_index: Mapped[int] = mapped_column(Integer)
    source_case_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), unique=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())
