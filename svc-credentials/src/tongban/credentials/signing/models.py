import datetime as dt

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, LargeBinary, String, func
from sqlalchemy.orm import Mapped, mapped_column

from tongban.credentials.db import Base


class Issuer(Base):
    """A department that issues licences (by its credit code) and the algorithm it signs with."""

    __tablename__ = "issuer"
    __table_args__ = (CheckConstraint("algorithm IN ('Ed25519', 'SM2')", name="algorithm"),)

    code: Mapped[str] = mapped_column(String(18), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    algorithm: Mapped[str] = mapped_column(String(10), default="Ed25519")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())


class SigningKey(Base):
    """The public half of an issuer's key; the private half lives in the key store under `kid`."""

    __tablename__ = "signing_key"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    issuer_code: Mapped[str] = mapped_column(ForeignKey("issuer.code"), index=True)
    algorithm: Mapped[str] = mapped_column(String(10))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(10), default="active")   # active | retired
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
