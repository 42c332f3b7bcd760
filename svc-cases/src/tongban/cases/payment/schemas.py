import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ProviderName = Literal["wechat", "alipay", "unionpay"]
Mode = Literal["pay_first", "review_first"]


class PaymentLine(BaseModel):
    department: str | None
    basic_code: str
    name: str
    amount_fen: int


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    provider: str
    kind: str
    outcome: str                # applied | duplicate
    via: str                    # callback | query | refund
    received_at: dt.datetime


class PaymentOrderRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    order_number: str
    case_id: uuid.UUID
    case_number: str
    payment_code: str = Field(description="非税缴款码: region (6), YYMMDD, serial (7), Luhn check digit")
    amount_fen: int
    lines: list[PaymentLine]
    mode: Literal["pay_first", "review_first", "unspecified"]
    state: str
    provider: str | None
    expires_at: dt.datetime
    paid_at: dt.datetime | None
    receipt_number: str | None = Field(description="电子票据号码, once paid")
    refund_reason: str | None
    refunded_at: dt.datetime | None
    notifications: list[NotificationRead] = []


class PaymentStart(BaseModel):
    provider: ProviderName


class PaymentStarted(BaseModel):
    order: PaymentOrderRead
    pay: dict[str, Any] = Field(description="what the payer's app needs: the provider's code_url / order string / tn")


class PaymentRuleIn(BaseModel):
    mode: Mode
    refund_on_refusal: bool = True
    refund_on_withdrawal: bool = True


class PaymentRuleRead(PaymentRuleIn):
    model_config = ConfigDict(from_attributes=True)

    basic_code: str


class ReconciliationCreate(BaseModel):
    provider: ProviderName
    on_date: dt.date


class Mismatch(BaseModel):
    kind: Literal["paid_here_not_there", "paid_there_not_here", "amount_differs", "unknown_order"]
    order_number: str
    case_number: str | None = None
    our_amount_fen: int | None = None
    their_amount_fen: int | None = None
    state: str | None = None
    transaction_id: str | None = None


class ReconciliationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    provider: str
    on_date: dt.date
    matched: int
    mismatches: list[Mismatch]
    run_by: str
    created_at: dt.datetime
