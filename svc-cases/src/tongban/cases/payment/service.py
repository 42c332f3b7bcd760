"""Unified payment (统一支付): the rules. Never commits; every change is audited and announced
through the outbox in the same transaction.

- An order is opened when a case of a fee-bearing implementation is submitted (consumers/payment.py
  hears `cases.case.submitted`): the amount is the sum of the city's implementation's fees, in fen.
- 先缴后审 (pay_first): `accept` is refused until the order is paid (`require_paid`, asked by
  tongban.cases.flows before the step). 先审后缴 (review_first): an approval of an unpaid case is
  held back from the outbox (`hold_approval`): svc-credentials issues the licence on
  `cases.case.approved`, so the licence waits for the payment; `apply_notice` releases it.
- A provider's word on an order counts only once verified (providers.py) and checked against
  the order (merchant, amount); the same signed message twice is a replay (refused), a resent
  notification of what was already applied is a duplicate (acknowledged, nothing changes).
- A refusal, denial or withdrawal refunds what was paid where the item's rule says so, and a
  payment that arrives for a settled case is refunded at once; the follower (follower.py) sends
  the refunds and asks the provider about orders whose callback never came.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from tongban.cases.bundle import repository as bundles_repo
from tongban.cases.case import repository as cases_repo
from tongban.cases.case import steps
from tongban.cases.case.models import Case
from tongban.cases.catalog_copy import repository as catalog
from tongban.cases.db import audit, outbox, platform
from tongban.cases.payment import codes
from tongban.cases.payment import repository as repo
from tongban.cases.payment.client import StatementLine
from tongban.cases.payment.config import ORDER_TTL_HOURS
from tongban.cases.payment.errors import CallbackRefused, PaymentOutstanding
from tongban.cases.payment.models import PaymentOrder, PaymentRule, Reconciliation
from tongban.cases.payment.providers import BEIJING, Notice
from tongban.shared import clock
from tongban.shared.auth import Principal
from tongban.shared.contracts import cases as case_contract
from tongban.shared.contracts import payments as contract
from tongban.shared.events.envelope import Envelope, make_event

log = logging.getLogger("tongban.cases.payment")
SYSTEM = "system:payment"
PAID = frozenset({"paid", "refund_pending", "refunded"})
# An item whose rule says nothing: its fee is payable at any time and gates neither acceptance nor
# the licence (the platform's fee-bearing items ran that way before payment existed).
DEFAULT_RULE = ("unspecified", True, True)


async def rule_of(session: AsyncSession, basic_code: str) -> tuple[str, bool, bool]:
    """(mode, refund_on_refusal, refund_on_withdrawal) of an item."""
    found = await repo.rule(session, basic_code)
    return (found.mode, found.refund_on_refusal, found.refund_on_withdrawal) if found else DEFAULT_RULE


async def set_rule(session: AsyncSession, basic_code: str, mode: str, refund_on_refusal: bool,
                   refund_on_withdrawal: bool, p: Principal) -> PaymentRule:
    found = await repo.rule(session, basic_code)
    if found is None:
        found = PaymentRule(basic_code=basic_code)
        session.add(found)
    found.mode, found.refund_on_refusal, found.refund_on_withdrawal = mode, refund_on_refusal, refund_on_withdrawal
    await session.flush()
    await audit.record(session, p, "payment.rule_set", "payment_rule", basic_code, None,
                       {"mode": mode, "refund_on_refusal": refund_on_refusal,
                        "refund_on_withdrawal": refund_on_withdrawal})
    return found


def _fen(amount: Any) -> int:
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return 0
    return int((value * 100).to_integral_value()) if value > 0 else 0


async def fee_of(session: AsyncSession, case: Case) -> tuple[int, list[dict[str, Any]]]:
    """The case's fee in fen and its lines (per department, for the books), from the city's
    implementation in the catalogue's read copy. (0, []) for an item without fees."""
    impl = await catalog.implementation(session, case.implementation_code, case.basic_code, case.city_code)
    fees = (impl.fees if impl is not None else None) or []
    lines = [{"department": case.department, "basic_code": case.basic_code, "name": str(f["name"])[:200],
              "amount_fen": _fen(f.get("amount"))} for f in fees]
    lines = [line for line in lines if line["amount_fen"] > 0]
    return sum(line["amount_fen"] for line in lines), lines


def _charged(fees: list[dict[str, Any]] | None) -> bool:
    """Whether a fee list (the implementation's, as `fee_of` reads it) charges anything."""
    return any(_fen(f.get("amount")) > 0 for f in fees or [])


def key_of(case: Case) -> uuid.UUID:
    """Whose order pays for the case: its bundle case's (一件事: one order, one total), else its own."""
    return case.bundle_case_id or case.id


async def cases_of(session: AsyncSession, order: PaymentOrder) -> list[Case]:
    """The cases an order pays for (locked): its case, or every child of its bundle case."""
    case = await cases_repo.get(session, order.case_id, for_update=True)
    if case is not None:
        return [case]
    return [await cases_repo.get(session, c.id, for_update=True) or c
            for c in await bundles_repo.children(session, order.case_id)]


async def order_for(session: AsyncSession, case: Case, for_update: bool = False) -> PaymentOrder | None:
    return await repo.by_case(session, key_of(case), for_update)


def payload(order: PaymentOrder, applicant_sub: str | None = None) -> contract.PaymentOrderV1:
    return contract.PaymentOrderV1(applicant_sub=applicant_sub,
        order_id=order.id, order_number=order.order_number, case_id=order.case_id, case_number=order.case_number,
        payment_code=order.payment_code, amount_fen=order.amount_fen, mode=order.mode, state=order.state,
        provider=order.provider, receipt_number=order.receipt_number, expires_at=order.expires_at, at=clock.now(),
        lines=[contract.PaymentLineV1(**line) for line in order.lines])


async def applicant_sub_of(session: AsyncSession, order: PaymentOrder) -> str | None:
    """The account told of the order: its case's online applicant, or (a bundle's order) the
    first child's, since one applicant submits a bundle's children together."""
    case = await cases_repo.get(session, order.case_id)
    if case is None:
        children = await bundles_repo.children(session, order.case_id)
        case = children[0] if children else None
    return steps.applicant_sub(case) if case is not None else None


async def _announce(session: AsyncSession, order: PaymentOrder, event_type: str, actor: Principal | str,
                    action: str, reason: str | None = None, detail: dict[str, Any] | None = None) -> None:
    await outbox.add(session, make_event("cases", event_type, payload(order, await applicant_sub_of(session, order)),
                                         subject=str(order.case_id)))
    await audit.record(session, actor, f"payment.{action}", "payment_order", str(order.id), reason,
                       {"order_number": order.order_number, "case_number": order.case_number, "state": order.state,
                        "amount_fen": order.amount_fen, **(detail or {})})


async def open_order(session: AsyncSession, case_id: uuid.UUID) -> PaymentOrder | None:
    """The case's order, opened if its implementation charges a fee (once: a second submission of
    the same case finds it). A bundle child's order is its bundle case's: one order whose total is
    every child's fees, its lines per department (the children are submitted together, so the
    first child heard finds them all). None for a case without a fee or unknown here."""
    need = await repo.order_need(session, case_id)
    if need is None or (not need.bundled and not need.ordered and not _charged(need.fees)):
        # Most cases charge nothing: one read says so, with nothing locked, loaded or written.
        return None
    case = await cases_repo.get(session, case_id, for_update=True)
    if case is None:
        return None
    key = key_of(case)
    existing = await repo.by_case(session, key)
    if existing is not None:
        return existing
    number, members = case.case_number, [case]
    if case.bundle_case_id is not None:
        parent = await bundles_repo.get(session, case.bundle_case_id)
        members = await bundles_repo.children(session, case.bundle_case_id) or [case]
        number = parent.case_number if parent is not None else case.case_number
    lines: list[dict[str, Any]] = []
    for member in members:
        lines += (await fee_of(session, member))[1]
    amount = sum(line["amount_fen"] for line in lines)
    if amount == 0:
        return None
    mode, _, _ = await rule_of(session, case.basic_code)
    code = await codes.payment_code(session, case.city_code, clock.today())
    order = PaymentOrder(order_number=codes.order_number(code), case_id=key, case_number=number,
                         basic_code=case.basic_code, department=case.department, city_code=case.city_code,
                         payment_code=code, amount_fen=amount, lines=lines, mode=mode, state="unpaid",
                         expires_at=clock.now() + dt.timedelta(hours=ORDER_TTL_HOURS))
    await repo.add(session, order)
    for member in members:
        await steps.record(session, member, SYSTEM, "payment_due", member.state, member.state, None,
                           {"payment_code": code, "amount_fen": amount, "mode": mode,
                            "expires_at": order.expires_at.isoformat()})
    await _announce(session, order, contract.PAYMENT_DUE, SYSTEM, "due")
    if all(m.state in steps.SETTLED for m in members):
        await _settle_unpaid(session, order, f"case {case.state} before its order was opened")
    return order


async def require_paid(session: AsyncSession, case: Case) -> None:
    """先缴后审: refuse to accept a case of a fee-bearing pay_first item until it is paid."""
    mode, _, _ = await rule_of(session, case.basic_code)
    if mode != "pay_first":
        return
    order = await order_for(session, case)
    if order is not None and order.state in PAID:
        return
    amount, _ = await fee_of(session, case) if order is None else (order.amount_fen, [])
    if amount:
        raise PaymentOutstanding(f"case {case.case_number}: the fee of {amount / 100:.2f} yuan is paid before the "
                                 "case is accepted (先缴后审)")


async def hold_approval(session: AsyncSession, case: Case) -> bool:
    """先审后缴: an approval of an unpaid fee-bearing case is taken out of the outbox (it was
    written in this very transaction and not published) and kept until the order is paid."""
    mode, _, _ = await rule_of(session, case.basic_code)
    if mode != "review_first":
        return False
    order = await order_for(session, case)
    if order is not None and order.state in PAID:
        return False
    if order is None and (await fee_of(session, case))[0] == 0:
        return False
    table = platform.outbox
    q = (delete(table).where(table.c.subject == case_contract.CASE_APPROVED, table.c.published_at.is_(None),
                             table.c.envelope["subject"].astext == str(case.id)).returning(table.c.envelope))
    held = (await session.execute(q)).scalars().all()
    for envelope in held:
        await repo.hold(session, case.id, envelope)
    if held:
        await steps.record(session, case, SYSTEM, "licence_held", case.state, case.state,
                           "先审后缴: the licence is issued once the fee is paid", {})
    return bool(held)


async def mark_started(session: AsyncSession, order: PaymentOrder, provider: str, p: Principal) -> None:
    order.provider = provider
    order.updated_at = clock.now()
    await audit.record(session, p, "payment.started", "payment_order", str(order.id), None,
                       {"order_number": order.order_number, "provider": provider})


async def apply_notice(session: AsyncSession, notice: Notice, via: str, expected_merchant: str) -> str:
    """Apply a verified provider notice to its order: 'applied', 'duplicate' or 'ignored' (an
    'unpaid' answer to a query). CallbackRefused (nothing changed) when it does not fit the order."""
    if notice.merchant != expected_merchant:
        raise CallbackRefused("wrong_merchant", f"the notification is for merchant {notice.merchant[:32]!r}, not ours",
                              403)
    order = await repo.by_number(session, notice.order_number, for_update=True)
    if order is None:
        raise CallbackRefused("unknown_order", f"no order {notice.order_number[:40]!r}", 404)
    if notice.kind == "unpaid":
        return "ignored"
    if notice.kind == "paid" and notice.amount_fen != order.amount_fen:
        raise CallbackRefused("wrong_amount", f"order {order.order_number} is {order.amount_fen} fen, the "
                                              f"notification says {notice.amount_fen}", 422)
    if notice.kind == "refunded" and notice.amount_fen != order.amount_fen:
        raise CallbackRefused("wrong_amount", f"refund of {notice.amount_fen} fen for an order of "
                                              f"{order.amount_fen}", 422)
    if order.provider not in (None, notice.provider) and order.state in PAID:
        raise CallbackRefused("wrong_provider", f"order {order.order_number} was paid through {order.provider}", 409)
    duplicate = (notice.kind == "paid" and order.state in PAID) or (notice.kind == "refunded"
                                                                    and order.state == "refunded")
    if notice.kind == "refunded" and order.state not in ("refund_pending", "refunded"):
        raise CallbackRefused("unexpected_refund", f"order {order.order_number} is {order.state}: no refund asked",
                              409)
    recorded = await repo.note(session, provider=notice.provider, nonce=notice.digest,
                               notification_id=notice.notification_id[:64], kind=notice.kind,
                               order_number=order.order_number, outcome="duplicate" if duplicate else "applied",
                               via=via)
    if not recorded:
        raise CallbackRefused("replayed", "this very notification was received before", 409)
    if duplicate:
        log.info("duplicate %s notification for %s: nothing changes", notice.provider, order.order_number)
        return "duplicate"
    if notice.kind == "paid":
        await _paid(session, order, notice, via)
    else:
        order.state, order.refunded_at = "refunded", clock.now()
        await _announce(session, order, contract.PAYMENT_REFUNDED, f"system:{notice.provider}", "refunded",
                        order.refund_reason, {"refund_number": order.refund_number})
        for case in await cases_of(session, order):
            await steps.record(session, case, SYSTEM, "payment_refunded", case.state, case.state, order.refund_reason,
                               {"refund_number": order.refund_number, "amount_fen": order.amount_fen})
    return "applied"


async def _paid(session: AsyncSession, order: PaymentOrder, notice: Notice, via: str) -> None:
    at = notice.at or clock.now()
    was = order.state
    order.state, order.provider, order.provider_transaction_id = "paid", notice.provider, notice.transaction_id
    order.paid_at, order.paid_on = at, at.astimezone(BEIJING).date()
    order.receipt_number = await codes.receipt_number(session, order.city_code, order.paid_on)
    await _announce(session, order, contract.PAYMENT_RECEIVED, f"system:{notice.provider}", "received", None,
                    {"via": via, "transaction_id": notice.transaction_id, "receipt_number": order.receipt_number})
    members = await cases_of(session, order)
    for case in members:
        await steps.record(session, case, f"system:{notice.provider}", "payment_received", case.state, case.state,
                           None, {"payment_code": order.payment_code, "amount_fen": order.amount_fen,
                                  "receipt_number": order.receipt_number, "provider": notice.provider})
    if (members and all(c.state in steps.SETTLED for c in members)) or was in ("expired", "cancelled"):
        # Money for a case that no longer wants it (withdrawn, refused, or the order lapsed): back at once.
        settled = members and members[0].state in steps.SETTLED
        await _refund(session, order, f"paid after the case was {members[0].state}" if settled
                      else f"paid after the order was {was}")
        return
    for case in members:
        envelope = await repo.release(session, case.id)
        if envelope is not None:
            await outbox.add(session, Envelope.model_validate(envelope))
            await steps.record(session, case, SYSTEM, "licence_released", case.state, case.state,
                               "先审后缴: paid, the licence is issued", {})


async def _refund(session: AsyncSession, order: PaymentOrder, reason: str) -> None:
    order.state, order.refund_reason = "refund_pending", reason
    order.refund_number = "RF" + order.payment_code
    order.updated_at = clock.now()
    await audit.record(session, SYSTEM, "payment.refund_requested", "payment_order", str(order.id), reason,
                       {"order_number": order.order_number, "amount_fen": order.amount_fen})


async def _settle_unpaid(session: AsyncSession, order: PaymentOrder, reason: str) -> None:
    order.state = "cancelled"
    await audit.record(session, SYSTEM, "payment.cancelled", "payment_order", str(order.id), reason,
                       {"order_number": order.order_number})


async def case_settled(session: AsyncSession, case_id: uuid.UUID, state: str) -> None:
    """A case was refused, denied or withdrawn: an unpaid order is cancelled; a paid one refunded
    where the item's rule says so. A bundle's order only once none of its children goes on (a
    child refused while others are approved keeps the bundle's payment: partial refunds are not done)."""
    case = await cases_repo.get(session, case_id)
    if case is None:
        return
    order = await order_for(session, case, for_update=True)
    if order is None:
        return
    members = await cases_of(session, order)
    if not all(m.state in steps.SETTLED for m in members) or any(m.state == "completed" for m in members):
        return
    _, on_refusal, on_withdrawal = await rule_of(session, order.basic_code)
    if order.state == "unpaid":
        await _settle_unpaid(session, order, f"case {state}")
    elif order.state == "paid" and (on_withdrawal if state == "withdrawn" else on_refusal):
        await _refund(session, order, f"case {state}")


async def expire(session: AsyncSession, order: PaymentOrder) -> None:
    order.state = "expired"
    await _announce(session, order, contract.PAYMENT_EXPIRED, SYSTEM, "expired", "not paid before it expired")


async def reconcile(session: AsyncSession, provider: str, on_date: dt.date, lines: list[StatementLine],
                    actor: Principal | str) -> Reconciliation:
    """对账: the provider's statement of a day against the orders paid here that day. Every
    mismatch is listed: paid_here_not_there, paid_there_not_here (we never heard of the payment),
    amount_differs, unknown_order (the statement names an order we never opened)."""
    ours = {o.order_number: o for o in await repo.paid_on(session, provider, on_date)}
    theirs = {line.order_number: line for line in lines if line.kind == "paid"}
    known = await repo.by_numbers(session, [n for n in theirs if n not in ours])
    mismatches: list[dict[str, Any]] = []
    matched = 0
    for number, line in sorted(theirs.items()):
        order = ours.get(number) or known.get(number)
        if order is None:
            mismatches.append({"kind": "unknown_order", "order_number": number, "transaction_id": line.transaction_id,
                               "their_amount_fen": line.amount_fen})
        elif order.state not in PAID:
            mismatches.append({"kind": "paid_there_not_here", "order_number": number, "state": order.state,
                               "case_number": order.case_number, "their_amount_fen": line.amount_fen})
        elif line.amount_fen != order.amount_fen:
            mismatches.append({"kind": "amount_differs", "order_number": number, "case_number": order.case_number,
                               "our_amount_fen": order.amount_fen, "their_amount_fen": line.amount_fen})
        elif number in ours:
            matched += 1
    for number, order in sorted(ours.items()):
        if number not in theirs:
            mismatches.append({"kind": "paid_here_not_there", "order_number": number, "case_number": order.case_number,
                               "our_amount_fen": order.amount_fen})
    found = Reconciliation(provider=provider, on_date=on_date, matched=matched, mismatches=mismatches,
                           run_by=actor.sub if isinstance(actor, Principal) else actor)
    await repo.add(session, found)
    await audit.record(session, actor, "payment.reconciled", "payment_reconciliation", str(found.id), None,
                       {"provider": provider, "on_date": on_date.isoformat(), "matched": matched,
                        "mismatches": len(mismatches)})
    await outbox.add(session, make_event("cases", contract.RECONCILIATION_FINISHED, contract.ReconciliationV1(
        reconciliation_id=found.id, provider=provider, on_date=on_date, matched=matched,
        mismatches=len(mismatches)), subject=str(found.id)))
    return found
