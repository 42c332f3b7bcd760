"""Unified payment's routes: a case's order and paying it (the applicant's side), the providers'
callbacks (public: authenticated by the provider's signature only), payment rules (admins) and the
daily reconciliation (finance staff)."""

import datetime as dt
import logging
import os
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from tongban.cases.case.access import get_visible
from tongban.cases.case.errors import CaseNotFound, NotAllowedForRole
from tongban.cases.payment import client, config, repository, service
from tongban.cases.payment.errors import (
    CallbackRefused,
    OrderNotPayable,
    PaymentOrderNotFound,
    ProviderUnavailable,
    ReconciliationNotFound,
    UnknownProvider,
)
from tongban.cases.payment.models import PaymentOrder, Reconciliation
from tongban.cases.payment.providers import PROVIDERS
from tongban.cases.payment.schemas import (
    NotificationRead,
    PaymentOrderRead,
    PaymentRuleIn,
    PaymentRuleRead,
    PaymentStart,
    PaymentStarted,
    ReconciliationCreate,
    ReconciliationRead,
)
from tongban.cases.policy import POLICY
from tongban.shared import clock
from tongban.shared.auth import AUTH_ERRORS, OutsideDelegation, OutsideScope, RealNameRequired
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate
from tongban.shared.policy import Access, Authorize

log = logging.getLogger("tongban.cases.payment")
router = APIRouter(tags=["payment"])
Reader = Annotated[Access, Depends(Authorize(POLICY, "payment.read"))]
Payer = Annotated[Access, Depends(Authorize(POLICY, "payment.pay"))]
Provider = Annotated[Access, Depends(Authorize(POLICY, "payment.callback"))]
RuleReader = Annotated[Access, Depends(Authorize(POLICY, "payment.rule.read"))]
RuleManager = Annotated[Access, Depends(Authorize(POLICY, "payment.rule.manage"))]
Finance = Annotated[Access, Depends(Authorize(POLICY, "payment.reconcile"))]
FinanceReader = Annotated[Access, Depends(Authorize(POLICY, "payment.reconciliation.read"))]
TRUST_ERRORS = (RealNameRequired, OutsideDelegation, OutsideScope)
BasicCode = Annotated[str, Path(pattern=r"^\d{12}$")]


async def _read(session, order: PaymentOrder) -> PaymentOrderRead:
    found = PaymentOrderRead.model_validate(order)
    found.notifications = [NotificationRead.model_validate(n)
                           for n in await repository.notifications(session, order.order_number)]
    return found


@router.get("/cases/{case_id}/payment", response_model=PaymentOrderRead,
            responses=responses(*AUTH_ERRORS, *TRUST_ERRORS, CaseNotFound, PaymentOrderNotFound))
async def get_payment(case_id: uuid.UUID, session: SessionDep, access: Reader) -> PaymentOrderRead:
    """The case's payment order (缴款单): amount, 非税缴款码, expiry, state, e-receipt number once paid,
    and every verified provider notification (a duplicate shows as such)."""
    assert access.principal is not None
    case = await get_visible(session, case_id, access.principal, permission="payment.read")
    order = await service.order_for(session, case)
    if order is None:
        raise PaymentOrderNotFound(f"case {case.case_number} has no payment order (no fee, or not submitted yet)")
    return await _read(session, order)


def _notify_url(provider: str) -> str:
    base = os.environ.get("CASES_PAYMENT_NOTIFY_BASE_URL") or config.load().raw.get("notify_base_url") or ""
    return f"{base.rstrip('/')}/api/v1/cases/payment/callbacks/{provider}"


@router.post("/cases/{case_id}/payment", response_model=PaymentStarted,
             responses=responses(*AUTH_ERRORS, *TRUST_ERRORS, CaseNotFound, NotAllowedForRole, PaymentOrderNotFound,
                                 OrderNotPayable, ProviderUnavailable, UnknownProvider, IdempotencyKeyReused))
async def pay(case_id: uuid.UUID, body: PaymentStart, session: SessionDep, access: Payer,
              idem: IdempotencyDep):
    """Pay the case's order through a provider: the answer carries what the payer's app needs.
    The order is settled only by the provider's verified notification (or its verified answer
    to a query), never by this call. Send an `Idempotency-Key`."""
    p = access.principal
    assert p is not None
    if (replay := await idem.claim(session, p.sub)) is not None:
        return replay
    case = await get_visible(session, case_id, p, for_update=True, permission="payment.pay")
    order = await service.order_for(session, case, for_update=True)
    if order is None:
        raise PaymentOrderNotFound(f"case {case.case_number} has no payment order (no fee, or not submitted yet)")
    if order.state != "unpaid" or order.expires_at <= clock.now():
        raise OrderNotPayable(f"order {order.order_number} is {order.state if order.state != 'unpaid' else 'expired'}")
    if order.provider not in (None, body.provider):
        raise OrderNotPayable(f"order {order.order_number} is being paid through {order.provider}")
    # The provider's order call is idempotent by out_trade_no, so a retry after a failure here is safe.
    params = await client.open_payment(body.provider, order.order_number, order.amount_fen,
                                       f"{case.case_number} 非税缴款 {order.payment_code}", _notify_url(body.provider))
    await service.mark_started(session, order, body.provider, p)
    return await idem.remember(session, 200, PaymentStarted(order=await _read(session, order), pay=params))


@router.post("/payment/callbacks/{provider}", status_code=200,
             responses=responses(CallbackRefused, ProviderUnavailable, UnknownProvider))
async def callback(provider: str, request: Request, session: SessionDep, _: Provider) -> Response:
    """A provider's payment or refund notification (public: the provider's signature is the only
    credential). Verified (signature, freshness, merchant, order, amount) before anything is read;
    a resent notification of what was applied is acknowledged and changes nothing; a replay of the
    very same signed message, a bad signature, a wrong amount or an unknown order: 4xx, nothing changes."""
    if provider not in PROVIDERS:
        raise UnknownProvider(f"no payment provider {provider[:20]!r}")
    adapter = client.adapter(provider)
    body = await request.body()
    try:
        notice = adapter.verify(request.headers, body)
        outcome = await service.apply_notice(session, notice, "callback", adapter.merchant)
    except CallbackRefused as exc:
        log.warning("%s callback refused (%s): %s", provider, exc.reason, exc.detail)
        raise
    log.info("%s callback for %s: %s", provider, notice.order_number, outcome)
    status, content, media_type = adapter.acknowledgement()
    return Response(status_code=status, content=content or None, media_type=media_type)


@router.get("/payment-rules", response_model=Page[PaymentRuleRead], responses=responses(*AUTH_ERRORS))
async def list_rules(session: SessionDep, page: PageDep, _: RuleReader) -> Page[PaymentRuleRead]:
    """How each item is paid for (items without a rule: unspecified — payable any time, gating nothing —
    refunds on refusal and withdrawal)."""
    return await paginate(session, repository.rules_query(), page, PaymentRuleRead.model_validate)


@router.put("/payment-rules/{basic_code}", response_model=PaymentRuleRead, responses=responses(*AUTH_ERRORS))
async def put_rule(basic_code: BasicCode, body: PaymentRuleIn, session: SessionDep,
                   access: RuleManager) -> PaymentRuleRead:
    """Set an item's payment mode: 先缴后审 (pay_first) or 先审后缴 (review_first), and its refunds (admins)."""
    assert access.principal is not None
    found = await service.set_rule(session, basic_code, body.mode, body.refund_on_refusal, body.refund_on_withdrawal,
                                   access.principal)
    return PaymentRuleRead.model_validate(found)


@router.post("/payment/reconciliations", status_code=201, response_model=ReconciliationRead,
             responses=responses(*AUTH_ERRORS, InvalidField, ProviderUnavailable, UnknownProvider,
                                 IdempotencyKeyReused))
async def reconcile(body: ReconciliationCreate, session: SessionDep, access: Finance, idem: IdempotencyDep):
    """对账 now: one Beijing day's provider statement against the orders paid here that day; every
    mismatch listed (finance staff). The follower does this daily for yesterday by itself."""
    p = access.principal
    assert p is not None
    if body.on_date > clock.today() or body.on_date < clock.today() - dt.timedelta(days=366):
        raise InvalidField("on_date", "a day within the last year, not in the future")
    if (replay := await idem.claim(session, p.sub)) is not None:
        return replay
    lines = await client.statement(body.provider, body.on_date)
    found = await service.reconcile(session, body.provider, body.on_date, lines, p)
    return await idem.remember(session, 201, ReconciliationRead.model_validate(found))


@router.get("/payment/reconciliations", response_model=Page[ReconciliationRead], responses=responses(*AUTH_ERRORS))
async def list_reconciliations(session: SessionDep, page: PageDep, _: FinanceReader,
                               on_date: dt.date | None = None) -> Page[ReconciliationRead]:
    """Reconciliations, newest first (finance staff, auditors)."""
    return await paginate(session, repository.reconciliations_query(on_date), page, ReconciliationRead.model_validate)


@router.get("/payment/reconciliations/{reconciliation_id}", response_model=ReconciliationRead,
            responses=responses(*AUTH_ERRORS, ReconciliationNotFound))
async def get_reconciliation(reconciliation_id: uuid.UUID, session: SessionDep,
                             _: FinanceReader) -> ReconciliationRead:
    found = await session.get(Reconciliation, reconciliation_id)
    if found is None:
        raise ReconciliationNotFound()
    return ReconciliationRead.model_validate(found)
