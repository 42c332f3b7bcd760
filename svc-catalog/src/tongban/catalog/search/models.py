from sqlalchemy import BigInteger, SmallInteger
from sqlalchemy.orm import Mapped, mapped_column

from tongban.catalog.db import Base


class SearchGeneration(Base):
    """One row: a counter bumped by every write that changes search answers (see search/cache.py)."""

    __tablename__ = "search_generation"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
