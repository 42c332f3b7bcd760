import datetime as dt

from sqlalchemy import DateTime, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from tongban.gateway.db import Base


class LoginFailure(Base):
    """Failed logins of one account (`account:<name>`, `client:<id>`) or one client address
    (`ip:<address>`) within the current window, and the lockout they led to. Shared by every
    gateway process, and it outlives a restart; rows past their window and lockout are pruned."""

    __tablename__ = "login_failure"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
