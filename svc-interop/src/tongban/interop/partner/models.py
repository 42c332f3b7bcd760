import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, SmallInteger, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tongban.interop.db import Base


class Partner(Base):
    """A partner city: where to call it, how to get a token there, and what it may call here.

    `services` names the message types it may send us (`case.forward`, ...); `items` the basic
    codes of our items it may forward cases for ("*" = every cross-city item).
    """

    __tablename__ = "partner"
    __table_args__ = (CheckConstraint("region_code ~ '^[0-9]{6}$'", name="region_code_digits"),)

    region_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    base_url: Mapped[str] = mapped_column(String(500))
    token_url: Mapped[str | None] = mapped_column(String(500))
    client_id: Mapped[str | None] = mapped_column(String(100))
    services: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list, server_default="{}")
    items: Mapped[list[str]] = mapped_column(ARRAY(String(20)), default=list, server_default="{}")
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    status: Mapped[str] = mapped_column(String(20), default="active", server_default="active")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PartnerKey(Base):
    """A partner's public signing key (Ed25519), registered out of band by an admin."""

    __tablename__ = "partner_key"

    region_code: Mapped[str] = mapped_column(ForeignKey("partner.region_code", ondelete="CASCADE"), primary_key=True)
    kid: Mapped[str] = mapped_column(String(100), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(100))      # raw 32 bytes, base64url
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class PartnerVersion(Base):
    """The registry's version (one row): every change of a partner or its keys bumps it (database
    triggers, migration 0006_interop_hot), so a process holding partners and keys in memory learns
    in the statement that claims a message's nonce that its copy is stale."""

    __tablename__ = "partner_version"
    __table_args__ = (CheckConstraint("id = 1", name="partner_version_one_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
