"""The notification tables (schema `gateway`): what each account wants, what it was told, on which
channel and how far each delivery got, the one-time WeChat subscribe authorisations, the staff to
escalate overdue cases to, the licences to remind of, and the local providers' record of what
would have been sent."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text,
                        Time, UniqueConstraint, func, text)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.gateway.db import Base

CHANNELS = ("sms", "wechat", "inbox")
STATUSES = ("scheduled", "sent", "delivered", "failed")


class Preference(Base):
    """One account's wishes: which outside channels it accepts, its quiet hours (Beijing time) and
    the mobile number SMS goes to (the account's own when none is given)."""

    __tablename__ = "notify_preference"

    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("gateway.account.id"),
                                                  primary_key=True)
    sms: Mapped[bool] = mapped_column(Boolean, default=True)
    wechat: Mapped[bool] = mapped_column(Boolean, default=True)
    quiet_start: Mapped[dt.time | None] = mapped_column(Time)
    quiet_end: Mapped[dt.time | None] = mapped_column(Time)
    phone: Mapped[str | None] = mapped_column(String(11))
    muted: Mapped[list[str]] = mapped_column(JSONB, default=list)   # message kinds the account does not want
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Message(Base):
    """One message to one account (its in-app inbox entry). `dedup_key` makes the same news told
    twice (a redelivered or repeated event) one message."""

    __tablename__ = "notify_message"
    __table_args__ = (UniqueConstraint("account_id", "dedup_key", name="uq_notify_message_dedup"),
                      Index("ix_notify_message_inbox", "account_id", "created_at"))

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("gateway.account.id"))
    kind: Mapped[str] = mapped_column(String(50))
    dedup_key: Mapped[str] = mapped_column(String(200))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    variables: Mapped[dict[str, Any]] = mapped_column(JSONB)
    event_id: Mapped[str | None] = mapped_column(String(100))
    event_type: Mapped[str | None] = mapped_column(String(100))
    event_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Delivery(Base):
    """A message on one outside channel: scheduled → sent → delivered, or failed after its retries
    (the dead letters). `not_before` holds it through quiet hours, a rate limit or a retry back-off."""

    __tablename__ = "notify_delivery"
    __table_args__ = (
        CheckConstraint(f"channel IN ({', '.join(repr(c) for c in CHANNELS)})", name="channel"),
        CheckConstraint(f"status IN ({', '.join(repr(s) for s in STATUSES)})", name="status"),
        UniqueConstraint("message_id", "channel", name="uq_notify_delivery_channel"),
        # The dispatcher's claim (due scheduled deliveries by time) and its receipts (sent ones by
        # time): each an ordered range of its own status only, never the deferred backlog.
        Index("ix_notify_delivery_scheduled", "not_before", postgresql_where=text("status = 'scheduled'")),
        Index("ix_notify_delivery_sent", "sent_at", postgresql_where=text("status = 'sent'")),
        Index("ix_notify_delivery_status", "status", "updated_at"),
        Index("ix_notify_delivery_recent", "account_id", "channel", "not_before"),   # the hourly limit's look-up
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    message_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("gateway.notify_message.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))   # indexed first in ix_notify_delivery_recent
    channel: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(100))          # the mobile number, or the WeChat recipient
    template_id: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10), default="scheduled")
    not_before: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    deferred: Mapped[str | None] = mapped_column(String(20))    # quiet_hours | rate_limit | retry
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    provider_ref: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class WeChatGrant(Base):
    """A resident's one-time authorisation (订阅消息) to be sent one message of one template:
    recorded when she taps "allow" in the mini-program, consumed by the first message it carries."""

    __tablename__ = "notify_wechat_grant"
    __table_args__ = (Index("ix_notify_wechat_grant_open", "account_id", "template_id",
                            postgresql_where=text("consumed_at IS NULL")),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("gateway.account.id"))
    template_id: Mapped[str] = mapped_column(String(100))
    granted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    consumed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    message_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class EscalationContact(Base):
    """Who hears of an overdue case beyond the department's approvers: its head (`head`, for one
    department) and the supervising office (`supervision`, 督办; `department` NULL: every one)."""

    __tablename__ = "notify_escalation_contact"
    __table_args__ = (
        CheckConstraint("role IN ('head', 'supervision')", name="role"),
        CheckConstraint("role = 'supervision' OR department IS NOT NULL", name="head_has_department"),
        UniqueConstraint("account_id", "role", "department", name="uq_notify_escalation_contact"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("gateway.account.id"))
    role: Mapped[str] = mapped_column(String(20))
    department: Mapped[str | None] = mapped_column(String(50), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class LicenceWatch(Base):
    """An issued licence with an end date, kept to remind its holder before it expires (no event
    says so: the daily reminder reads this copy)."""

    __tablename__ = "notify_licence_watch"

    licence_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("gateway.account.id"))
    type_code: Mapped[str] = mapped_column(String(40))
    valid_until: Mapped[dt.date] = mapped_column(index=True)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class SinkRecord(Base):
    """What the local providers (development, tests) would have sent: the outside world's view."""

    __tablename__ = "notify_sink"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(100))
    template_id: Mapped[str] = mapped_column(String(100))
    variables: Mapped[dict[str, Any]] = mapped_column(JSONB)
    content: Mapped[str] = mapped_column(Text)
    provider_ref: Mapped[str] = mapped_column(String(100), unique=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
