import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tongban.interop.db import Base


class MessageLog(Base):
    """One exchange in or out (request, response or refusal, signatures included), chained.

    `hash` = sha256(prev_hash + canonical entry); a trigger refuses UPDATE and DELETE, and the
    chain check finds any row changed behind the trigger's back.
    """

    __tablename__ = "message_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    direction: Mapped[str] = mapped_column(String(8))          # inbound / outbound
    partner: Mapped[str | None] = mapped_column(String(6))
    message_id: Mapped[str | None] = mapped_column(String(100), index=True)
    method: Mapped[str] = mapped_column(String(10))
    target: Mapped[str] = mapped_column(Text)
    request_headers: Mapped[dict[str, Any]] = mapped_column(JSONB)
    request_body: Mapped[bytes] = mapped_column(LargeBinary)
    # Set when the body was not kept (a refusal): the digest the chain covers instead.
    request_body_sha256: Mapped[str | None] = mapped_column(String(64))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[dict[str, Any]] = mapped_column(JSONB)
    response_body: Mapped[bytes] = mapped_column(LargeBinary)
    outcome: Mapped[str] = mapped_column(String(20))           # accepted / refused / delivered / failed
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class MessageLogHead(Base):
    """The chain's last entry (seq, hash), one row, kept by a trigger on every append (migration
    0006_interop_hot): an append locks this row (`FOR UPDATE`, which, once the previous append
    commits, reads what it wrote) instead of taking an advisory lock and then reading the log's
    last entry: one statement where there were two. seq 0 and the genesis hash before any entry."""

    __tablename__ = "message_log_head"
    __table_args__ = (CheckConstraint("id = 1", name="message_log_head_one_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
