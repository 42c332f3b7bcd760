import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.gateway.db import Base


class SigningKey(Base):
    """A key the gateway signs access tokens with; its private half is stored encrypted."""

    __tablename__ = "signing_key"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(10))
    private_pem: Mapped[str] = mapped_column(Text)                # PKCS#8, encrypted with the passphrase
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class RefreshToken(Base):
    """One refresh token of a login session (its family); only its SHA-256 is stored.

    Each use rotates it: the used one gets `rotated_at` and a new one joins the family. A second
    use of a rotated token means it was copied, so the whole family is revoked, except within the
    short grace window after the rotation, while its successor is still unused: the same answer
    again (several pages of a mini-program refreshing at once)."""

    __tablename__ = "refresh_token"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    family_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("gateway.account.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    rotated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The grace window (token/grace.py): the token that replaced this one, and the answer that
    # carried it, sealed with this token's own raw value (only its holder can open it).
    replaced_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    successor_sealed: Mapped[str | None] = mapped_column(Text)


class OAuthClient(Base):
    """A machine client: a partner city's system (`kind` partner: interop scopes only) or one of
    our own services calling another (`kind` service: SERVICE_SCOPES). Client credentials, the
    secret stored as an argon2 hash."""

    __tablename__ = "oauth_client"
    __table_args__ = (
        CheckConstraint("(kind = 'partner' AND partner IS NOT NULL AND service IS NULL) OR "
                        "(kind = 'service' AND service IS NOT NULL AND partner IS NULL)", name="kind"),
    )

    client_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10), default="partner", server_default="partner")
    partner: Mapped[str | None] = mapped_column(String(6))        # partners: region code (GB/T 2260), 440300
    service: Mapped[str | None] = mapped_column(String(30))       # services: the calling service's name
    scope: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
