"""Event payloads of unified payment (统一支付), published by svc-cases (subjects `cases.payment.*`).
Version 1: only additive changes.

A payment order belongs to one case; its `lines` split the total per department for the books.
Amounts are in fen (分), never floats. No personal numbers: `applicant_sub` (added in v1, optional)
is the account that applied online (a token subject, as on `cases.case.*`), so a notifier can tell
her; None for a counter or partner case. Consumers needing more read `cases.case.approved` or ask
svc-cases."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

PAYMENT_DUE = "cases.payment.due"              # an order was opened: the applicant is told to pay
PAYMENT_RECEIVED = "cases.payment.received"    # a verified provider notification settled it
PAYMENT_REFUNDED = "cases.payment.refunded"    # the provider confirmed a refund
PAYMENT_EXPIRED = "cases.payment.expired"      # nobody paid before the order's expiry
RECONCILIATION_FINISHED = "cases.payment.reconciled"   # a day's 对账 against one provider's statement


class PaymentLineV1(BaseModel):
    department: str | None = None
    basic_code: str
    name: str
    amount_fen: int


class PaymentOrderV1(BaseModel):
    """An order's state after the change the subject names."""

    order_id: uuid.UUID
    order_number: str                     # ours, sent to the provider as its out_trade_no
    case_id: uuid.UUID
    case_number: str
    payment_code: str                     # 非税缴款码
    amount_fen: int
    mode: str                             # pay_first (先缴后审) | review_first (先审后缴) | unspecified
    state: str                            # unpaid | paid | refund_pending | refunded | expired | cancelled
    provider: str | None = None
    receipt_number: str | None = None     # 电子票据号码, once paid
    expires_at: dt.datetime
    at: dt.datetime
    lines: list[PaymentLineV1] = Field(default_factory=list)
    applicant_sub: str | None = None      # the applying account (online applicants only), as on cases.case.*


class ReconciliationV1(BaseModel):
    reconciliation_id: uuid.UUID
    provider: str
    on_date: dt.date
    matched: int
    mismatches: int
