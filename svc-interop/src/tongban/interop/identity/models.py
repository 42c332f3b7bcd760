import datetime as dt

from sqlalchemy import DateTime, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from tongban.interop.db import Base


class SigningKey(Base):
    """One of our city's Ed25519 signing keys; the private half encrypted with the key passphrase."""

    __tablename__ = "signing_key"

    kid: Mapped[str] = mapped_column(String(100), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(100))      # raw 32 bytes, base64url (the JWK's x)
    private_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
