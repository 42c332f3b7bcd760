import datetime as dt
import uuid

from sqlalchemy import Boolean, CheckConstraint, DateTime, Index, String, func, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.gateway.db import Base

ROLES = ("citizen", "company", "clerk", "approver", "admin", "auditor")
REAL_NAME_LEVELS = ("self_declared", "verified", "counter_verified")
COMPANY_ROLES = ("legal_representative", "administrator", "agent")


class Account(Base):
    """A person who logs in at the gateway, with the role that decides what their tokens may reach."""

    __tablename__ = "account"
    __table_args__ = (
        CheckConstraint(f"role IN ({', '.join(repr(r) for r in ROLES)})", name="role"),
        CheckConstraint(f"real_name_level IN ({', '.join(repr(r) for r in REAL_NAME_LEVELS)})",
                        name="real_name_level"),
        CheckConstraint(f"company_role IN ({', '.join(repr(r) for r in COMPANY_ROLES)})", name="company_role"),
        # One active verified account per person. Anyone may register with any well-formed ID number
        # (self_declared); the conflict is settled when one of them proves it (see realname/).
        Index("uq_account_citizen_id_number", "id_number", unique=True,
              postgresql_where=text("role = 'citizen' AND active AND real_name_level IN ('verified', 'counter_verified')")),
        # A phone number WeChat confirmed logs in to one account only (wechat/service.py).
        Index("uq_account_verified_phone", "phone", unique=True,
              postgresql_where=text("active AND phone_verified_at IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    display_name: Mapped[str] = mapped_column(String(200))
    id_number: Mapped[str | None] = mapped_column(String(18))       # citizens (GB 11643)
    phone: Mapped[str | None] = mapped_column(String(20))
    # When WeChat confirmed `phone` as this person's (getPhoneNumber); None: only declared.
    phone_verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    credit_code: Mapped[str | None] = mapped_column(String(18))     # company users (GB 32100)
    department: Mapped[str | None] = mapped_column(String(50))      # approvers: the first of `departments`
    hall: Mapped[str | None] = mapped_column(String(50))            # clerks: the first of `halls`
    # Staff scope, maintained by admins and carried in the token: clerks' halls and departments,
    # approvers' departments.
    halls: Mapped[list[str] | None] = mapped_column(ARRAY(String(50)))
    departments: Mapped[list[str] | None] = mapped_column(ARRAY(String(50)))
    counter: Mapped[str | None] = mapped_column(String(50))         # clerks: their counter in the hall
    real_name_level: Mapped[str | None] = mapped_column(String(30))  # citizens
    company_role: Mapped[str | None] = mapped_column(String(30))    # company users
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())
