import datetime as dt
from typing import Any

from sqlalchemy import DateTime, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tongban.cases.db import Base


class ItemConfig(Base):
    """How svc-cases handles one item (by basic code): its application form's fields, the
    handling department and licence type when the catalogue does not say, the limit override."""

    __tablename__ = "item_config"

    basic_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    form_fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    department: Mapped[str | None] = mapped_column(String(18))
    result_licence_type: Mapped[str | None] = mapped_column(String(40))
    limit_working_days: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())
