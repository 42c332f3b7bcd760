import datetime as dt
import uuid

from sqlalchemy import BigInteger, DateTime, Index, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.credentials.db import Base


class Consent(Base):
    """A holder's consent that a department may read one type of their licences for one case."""

    __tablename__ = "consent"
    __table_args__ = (Index("ix_consent_lookup", "holder_id", "licence_type_code", "case_id"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    holder_type: Mapped[str] = mapped_column(String(3))
    holder_id: Mapped[str] = mapped_column(String(18))
    licence_type_code: Mapped[str] = mapped_column(String(21))
    case_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    department: Mapped[str | None] = mapped_column(String(18))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # A consent taken at a counter (a walk-in applicant): the clerk who witnessed it, and where.
    witnessed_by: Mapped[str | None] = mapped_column(String(200))
    witness_name: Mapped[str | None] = mapped_column(String(200))
    witness_hall: Mapped[str | None] = mapped_column(String(64))
    witness_counter: Mapped[str | None] = mapped_column(String(64))
    # Who gave it (the holder, an agent for the holder, or the witnessing clerk), and the
    # delegation an agent gave it under: the consent names both actor and principal (the holder).
    given_by: Mapped[str | None] = mapped_column(String(200))
    delegation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))

    @property
    def given_at(self) -> str:
        return "counter" if self.witnessed_by else "online"


class LicenceUse(Base):
    """One use (用证) or refused use of a holder's licence: who, department, case, purpose, when.
    Never the attribute values."""

    __tablename__ = "licence_use"
    __table_args__ = (Index("ix_licence_use_holder", "holder_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    holder_id: Mapped[str] = mapped_column(String(18))
    licence_type_code: Mapped[str] = mapped_column(String(21))
    licence_identifier: Mapped[str | None] = mapped_column(String(80))
    case_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    consent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    actor: Mapped[str] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(18))
    # The person who set the use going for the holder under a delegation (an agent who applied),
    # as the calling service reports it; the principal is always the holder (`holder_id`).
    agent: Mapped[str | None] = mapped_column(String(200))
    delegation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    purpose: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(10))                      # granted | refused
    refusal: Mapped[str | None] = mapped_column(String(40))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
