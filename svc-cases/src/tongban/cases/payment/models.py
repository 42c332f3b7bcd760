import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Integer, Sequence, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column
from tongban.cases.db import Base

# The counter behind the 非税缴款码 (payment/codes.py draws from it with nextval).
PAYMENT_CODE_SEQ = Sequence("payment_code_seq", metadata=Base.metadata)


class PaymentRule(Base):
    """How an item is paid for, set by admins: 先缴后审 (`pay_first`: the case waits for payment
    before it is accepted) or 先审后缴 (`review_first`: the licence is issued only once paid), and
    whether a refusal or a withdrawal refunds what was paid. An item without a rule: `unspecified`
    (payable any time, gating nothing), refunds on both."""

    __tablename__ = "payment_rule"

    basic_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    mode: Mapped[str] = mapped_column(String(20))
    refund_on_refusal: Mapped[bool] = mapped_column(Boolean, default=True)
    refund_on_withdrawal: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())


class PaymentOrder(Base):
    """One case's payment order (缴款单): the amount from the city's implementation, the 非税缴款码,
    an expiry, and what the provider reported, once verified."""

    __tablename__ = "payment_order"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    order_number: Mapped[str] = mapped_column(String(32), unique=True)     # the provider's out_trade_no
    case_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True)
    case_number: Mapped[str] = mapped_column(String(40))
    basic_code: Mapped[str] = mapped_column(String(12))
    department: Mapped[str | None] = mapped_column(String(18), index=True)
    city_code: Mapped[str] = mapped_column(String(6))
    payment_code: Mapped[str] = mapped_column(String(20), unique=True)    # 非税缴款码 (payment/codes.py)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    mode: Mapped[str] = mapped_column(String(20))
    # unpaid | paid | refund_pending | refunded | expired | cancelled
    state: Mapped[str] = mapped_column(String(20), index=True)
    provider: Mapped[str | None] = mapped_column(String(20))
    provider_transaction_id: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    paid_on: Mapped[dt.date | None] = mapped_column(Date, index=True)   # the Beijing date, for 对账
    receipt_number: Mapped[str | None] = mapped_column(String(30))      # 电子票据号码
    refund_reason: Mapped[str | None] = mapped_column(Text)
    refund_number: Mapped[str | None] = mapped_column(String(32))
    refunded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_queried_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())


class PaymentNotification(Base):
    """Every verified provider notification (callback or query answer) applied to an order: the
    duplicate of one already applied is recorded as such and changes nothing. `nonce` is unique per
    provider: the very same signed message again is a replay, refused."""

    __tablename__ = "payment_notification"
    __table_args__ = (UniqueConstraint("provider", "nonce", name="uq_payment_notification_provider_nonce"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(20))
    nonce: Mapped[str] = mapped_column(String(64))
    notification_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))          # paid | refunded
    order_number: Mapped[str] = mapped_column(String(32), index=True)
    outcome: Mapped[str] = mapped_column(String(20))       # applied | duplicate
    via: Mapped[str] = mapped_column(String(20))           # callback | query
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PaymentHeldEvent(Base):
    """先审后缴: the approval of an unpaid case, held back from the outbox (svc-credentials issues
    the licence on `cases.case.approved`) until the order is paid."""

    __tablename__ = "payment_held_event"

    case_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    envelope: Mapped[dict[str, Any]] = mapped_column(JSONB)
    held_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Reconciliation(Base):
    """One day's 对账 against one provider's statement: every mismatch, for finance staff."""

    __tablename__ = "payment_reconciliation"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    provider: Mapped[str] = mapped_column(String(20))
    on_date: Mapped[dt.date] = mapped_column(Date, index=True)
    matched: Mapped[int] = mapped_column(Integer)
    # [{kind: paid_here_not_there | paid_there_not_here | amount_differs | unknown_order, order_number, ...}]
    mismatches: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    run_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
