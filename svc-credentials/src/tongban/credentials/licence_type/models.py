import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tongban.credentials.db import Base


class LicenceType(Base):
    """A kind of licence (one of the city's 352): its fields, its holder kind and how long it is valid."""

    __tablename__ = "licence_type"
    __table_args__ = (CheckConstraint("holder_type IN ('111', '001')", name="holder_type"),)

    code: Mapped[str] = mapped_column(String(21), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    issuer_code: Mapped[str] = mapped_column(ForeignKey("issuer.code"), index=True)
    holder_type: Mapped[str] = mapped_column(String(3))                   # 111 resident ID / 001 credit code
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    validity: Mapped[str] = mapped_column(String(10))                     # permanent | years | given
    validity_years: Mapped[int | None] = mapped_column(Integer)
    # The picture's layout (LicenceTemplate); None: the fields in order under the type's name.
    template: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())
