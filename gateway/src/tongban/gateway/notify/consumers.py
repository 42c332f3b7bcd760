"""Events in: what svc-cases, svc-credentials and svc-queue publish becomes notices for the
accounts concerned (each handled once, in the gateway's inbox, with the messages it makes).

Residents and company users hear of their own cases (by the account that applied, carried on the
event), licences (the holder's accounts), appointments and tickets (by account); the hotline's
citizen of replies; a grantee of a benefit policy (the account that tapped for 即申即享, else the
holder's accounts) of its grant and, later, that its bank account is still missing. Staff hear of deadlines: the yellow warning goes to the department's
approvers; an overdue (red) case to them, and escalates to the department's head and the
supervising office (督办) named in `notify_escalation_contact`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.gateway.notify import repository
from tongban.gateway.notify.config import NotifySettings
from tongban.gateway.notify.service import Notice, tell
from tongban.shared.contracts import cases as case_events
from tongban.shared.clock import CHINA
from tongban.shared.contracts import credentials as licence_events
from tongban.shared.contracts import payments as payment_events
from tongban.shared.contracts import queue as queue_events
from tongban.shared.events.envelope import Envelope
from tongban.shared.events.inbox import Subscription

log = logging.getLogger("tongban.gateway.notify")
STATUS = {"case.received": "已收件", "case.accepted": "已受理", "case.supplement_requested": "待补正",
          "case.approved": "已通过", "case.refused": "未通过", "case.completed": "已办结"}
CASE_KINDS = {case_events.CASE_SUBMITTED: "case.received", case_events.CASE_ACCEPTED: "case.accepted",
              case_events.CASE_SUPPLEMENT_REQUESTED: "case.supplement_requested",
              case_events.CASE_REFUSED: "case.refused", case_events.CASE_DENIED: "case.refused",
              case_events.CASE_COMPLETED: "case.completed"}
_settings: NotifySettings | None = None


def configure(settings: NotifySettings) -> None:
    global _settings
    _settings = settings


def settings() -> NotifySettings:
    global _settings
    if _settings is None:
        _settings = NotifySettings()
    return _settings


def account_of(sub: str | None) -> uuid.UUID | None:
    """An account's token subject is its id; anything else (a service, a partner) has no inbox."""
    if not sub:
        return None
    try:
        return uuid.UUID(sub)
    except ValueError:
        return None


def _notice(account: uuid.UUID, kind: str, values: dict, key: str, event: Envelope) -> Notice:
    return Notice(account, kind, values, key, str(event.id), event.type, event.time)


async def case_notices(session: AsyncSession, event: Envelope) -> list[Notice]:
    """What a case event tells, and to whom (nothing for steps nobody needs telling of)."""
    if event.type in (case_events.CASE_DEADLINE_WARNING, case_events.CASE_OVERDUE):
        return await _deadline(session, event)
    if event.type == case_events.CASE_APPROVED:
        approved = case_events.CaseApprovedV1.model_validate(event.data)
        account = account_of(approved.applicant_sub)
        if account is None and approved.applicant_type == "person":
            found = await repository.holders(session, "111", approved.applicant_id)
            account = found[0] if found else None
        if account is None:
            return []
        values = {"case_number": approved.case_number, "status": STATUS["case.approved"], "note": "审批通过"}
        return [_notice(account, "case.approved", values, f"case.approved:{approved.case_id}", event)]
    kind = CASE_KINDS.get(event.type)
    if kind is None:
        return []   # steps nobody needs telling of (review started, resubmitted, ...)
    moved = case_events.CaseTransitionedV1.model_validate(event.data)
    account = account_of(moved.applicant_sub)
    if account is None:
        return []   # a counter or partner case: the hall or the partner city tells the applicant
    values: dict[str, object] = {"case_number": moved.case_number, "item": moved.item_basic_code,
                                 "status": STATUS[kind], "note": (moved.reason or STATUS[kind])[:20]}
    if kind == "case.accepted":
        values["deadline"] = moved.deadline_on.isoformat() if moved.deadline_on else "按承诺时限"
    elif kind == "case.supplement_requested":
        values["missing"] = "、".join(moved.missing_materials or []) or (moved.reason or "见办件详情")
    elif kind == "case.refused":
        values["reason"] = moved.reason or "见办件详情"
    key = f"{kind}:{moved.case_id}:{moved.at.isoformat()}"
    return [_notice(account, kind, values, key, event)]


async def _deadline(session: AsyncSession, event: Envelope) -> list[Notice]:
    warning = case_events.CaseDeadlineV1.model_validate(event.data)
    if warning.department is None:
        log.warning("deadline %s of case %s names no department: nobody to tell", warning.level, warning.case_id)
        return []
    values = {"case_number": warning.case_number, "item_code": warning.item_basic_code,
              "used": warning.used_working_days, "limit": warning.limit_working_days,
              "deadline": warning.deadline_on.isoformat(),
              "level_text": "已超期" if warning.level == "red" else "即将到期"}
    kind = f"deadline.{warning.level}"
    base = f"{kind}:{warning.case_id}:{warning.deadline_on.isoformat()}"
    notices = [_notice(a, kind, values, base, event) for a in await repository.approvers_of(session, warning.department)]
    if warning.level == "red":
        contacts = await repository.escalation_contacts(session, warning.department)
        escalation = {"case_number": warning.case_number, "department": warning.department,
                      "deadline": warning.deadline_on.isoformat()}
        for account in dict.fromkeys(contacts["head"] + contacts["supervision"]):
            notices.append(_notice(account, "deadline.escalated", escalation,
                                   f"deadline.escalated:{warning.case_id}:{warning.deadline_on.isoformat()}", event))
        if not contacts["head"] and not contacts["supervision"]:
            log.warning("overdue case %s of %s: no head or supervising office is named", warning.case_id,
                        warning.department)
    return notices


async def on_hotline_event(session: AsyncSession, event: Envelope) -> None:
    if event.type not in (case_events.TICKET_REPLIED, case_events.TICKET_CLOSED):
        return
    changed = case_events.TicketChangedV1.model_validate(event.data)
    account = account_of(changed.citizen_sub)
    if account is None or not changed.reply:
        return
    values = {"ticket_number": changed.ticket_number, "reply": changed.reply[:500], "note": "诉求已答复"}
    key = f"hotline.replied:{changed.ticket_id}:{changed.at.isoformat()}"
    await tell(session, [_notice(account, "hotline.replied", values, key, event)], settings())


async def licence_notices(session: AsyncSession, event: Envelope) -> list[Notice]:
    """An issued licence told to its holder's accounts (and watched, to remind them before it ends)."""
    if event.type != licence_events.LICENCE_ISSUED:
        return []
    issued = licence_events.LicenceIssuedV1.model_validate(event.data)
    accounts = await repository.holders(session, issued.holder_type, issued.holder_id)
    values = {"licence_type": issued.type_code, "valid_from": issued.valid_from.isoformat()}
    notices = [_notice(a, "licence.issued", values, f"licence.issued:{issued.licence_id}", event) for a in accounts]
    if issued.valid_until is not None and accounts:   # reminded before it ends, through its first account
        await repository.watch_licence(session, {"licence_id": issued.licence_id, "account_id": accounts[0],
                                                 "type_code": issued.type_code, "valid_until": issued.valid_until})
    return notices


def _telling(notices_of: Callable[[AsyncSession, Envelope], Awaitable[list[Notice]]]
             ) -> tuple[Callable[[AsyncSession, Envelope], Awaitable[None]],
                        Callable[[AsyncSession, list[Envelope]], Awaitable[None]]]:
    """An event's handler, and a group's: the group's notices told at once (one read of the
    recipients and one write for them all, not one each), as telling each event's in turn would."""
    async def one(session: AsyncSession, event: Envelope) -> None:
        notices = await notices_of(session, event)
        if notices:
            await tell(session, notices, settings())

    async def many(session: AsyncSession, events: list[Envelope]) -> None:
        notices = [n for event in events for n in await notices_of(session, event)]
        if notices:
            await tell(session, notices, settings())
    return one, many


on_case_event, on_case_events = _telling(case_notices)
on_licence_event, on_licence_events = _telling(licence_notices)


async def on_queue_event(session: AsyncSession, event: Envelope) -> None:
    notices: list[Notice] = []
    if event.type in (queue_events.APPOINTMENT_CONFIRMED, queue_events.APPOINTMENT_REMINDED):
        appt = queue_events.AppointmentV1.model_validate(event.data)
        if (account := account_of(appt.person_sub)) is not None:
            kind = "appointment.confirmed" if event.type == queue_events.APPOINTMENT_CONFIRMED else "appointment.reminded"
            values = {"day": appt.day.isoformat(), "starts": appt.starts.strftime("%H:%M"), "category": appt.category}
            notices.append(_notice(account, kind, values, f"{kind}:{appt.appointment_id}", event))
    elif event.type == queue_events.TICKET_APPROACHING:
        near = queue_events.TicketApproachingV1.model_validate(event.data)
        if (account := account_of(near.person_sub)) is not None:
            kind = "ticket.next" if near.ahead == 0 else "ticket.ahead"
            values = {"number": near.number, "ahead": near.ahead,
                      "note": "您是下一位" if near.ahead == 0 else f"前面还有{near.ahead}人"}
            notices.append(_notice(account, kind, values, f"ticket.ahead:{near.ticket_id}:{near.ahead}", event))
    elif event.type == queue_events.TICKET_CALLED:
        ticket = queue_events.TicketV1.model_validate(event.data)
        if (account := account_of(ticket.person_sub)) is not None and ticket.counter_number:
            values = {"number": ticket.number, "counter": ticket.counter_number,
                      "note": f"请到{ticket.counter_number}号窗口"}
            notices.append(_notice(account, "ticket.called", values,
                                   f"ticket.called:{ticket.ticket_id}:{ticket.call_count}", event))
    if notices:
        await tell(session, notices, settings())


PAYMENT_KINDS = {payment_events.PAYMENT_DUE: "payment.due", payment_events.PAYMENT_RECEIVED: "payment.received",
                 payment_events.PAYMENT_REFUNDED: "payment.refunded"}


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}元"


async def on_payment_event(session: AsyncSession, event: Envelope) -> None:
    """Payment due (amount, 非税缴款码, expiry), received (amount, 电子票据号) and refunded, told to
    the account that applied online; an expired order or a reconciliation tells nobody."""
    kind = PAYMENT_KINDS.get(event.type)
    if kind is None:
        return
    order = payment_events.PaymentOrderV1.model_validate(event.data)
    account = account_of(order.applicant_sub)
    if account is None:
        return   # a counter or partner case (or an event from before applicant_sub): the hall collects the fee
    values: dict[str, object] = {"case_number": order.case_number, "amount": yuan(order.amount_fen)}
    if kind == "payment.due":
        values |= {"payment_code": order.payment_code,
                   "expires": order.expires_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M"), "note": "待缴费"}
    elif kind == "payment.received":
        if not order.receipt_number:
            log.warning("payment received for order %s without a receipt number", order.order_id)
        values |= {"receipt_number": order.receipt_number or "开具中", "note": "缴费成功"}
    else:
        values["note"] = "已退款"
    await tell(session, [_notice(account, kind, values, f"{kind}:{order.order_id}", event)], settings())


BENEFIT_NOTES = {"benefit.granted": "免申即享，请填写收款账户", "benefit.approved": "申请已通过，请填写收款账户",
                 "benefit.account_missing": "请填写收款银行账户"}


async def on_benefit_event(session: AsyncSession, event: Envelope) -> None:
    """A benefit policy granted (免申即享, or a one-tap application approved), or its bank account
    still missing: told to the grantee, asking for the one thing the platform cannot know."""
    if event.type == case_events.BENEFIT_GRANTED:
        granted = case_events.BenefitGrantV1.model_validate(event.data)
        kind = "benefit.granted" if granted.mode == "auto" else "benefit.approved"
    elif event.type == case_events.BENEFIT_ACCOUNT_MISSING:
        granted = case_events.BenefitGrantV1.model_validate(event.data)
        kind = "benefit.account_missing"
    else:
        return
    own = account_of(granted.applicant_sub)
    accounts = [own] if own is not None else await repository.holders(
        session, "111" if granted.subject_type == "person" else "001", granted.subject_id)
    if not accounts:
        log.info("%s of %s: the grantee has no account to tell", kind, granted.grant_id)
        return
    values = {"case_number": granted.case_number, "policy": granted.policy_name[:40],
              "amount": f"{granted.amount}元", "note": BENEFIT_NOTES[kind]}
    await tell(session, [_notice(a, kind, values, f"{kind}:{granted.grant_id}", event) for a in accounts], settings())


# A backlog's messages share a transaction, up to TOGETHER at a time (the shared inbox's `together`:
# inbox rows in one insert, one commit for the group, acked after it; a failing group is redone
# message by message). One event's work here is a few small statements; its commit was most of it.
# Nobody waits on a notice to the second: each consumer lingers LINGER seconds after the first event
# of a quiet spell, so a steady stream (秒批 at 50/s) is told in groups, one fetch, transaction and
# dispatcher wake for many events, not one each.
TOGETHER = 50
LINGER = 0.25

SUBSCRIPTIONS = [
    Subscription(source="cases", subject="cases.case.>", durable="gateway-notify-cases", handler=on_case_event,
                 group_handler=on_case_events, together=TOGETHER, linger=LINGER),
    Subscription(source="cases", subject="cases.ticket.>", durable="gateway-notify-hotline",
                 handler=on_hotline_event, together=TOGETHER, linger=LINGER),
    Subscription(source="cases", subject="cases.payment.>", durable="gateway-notify-payments",
                 handler=on_payment_event, together=TOGETHER, linger=LINGER),
    Subscription(source="cases", subject="cases.benefit.>", durable="gateway-notify-benefits",
                 handler=on_benefit_event, together=TOGETHER, linger=LINGER),
    Subscription(source="credentials", subject="credentials.licence.>", durable="gateway-notify-licences",
                 handler=on_licence_event, group_handler=on_licence_events, together=TOGETHER, linger=LINGER),
    Subscription(source="queue", subject="queue.ticket.>", durable="gateway-notify-queue-tickets",
                 handler=on_queue_event, together=TOGETHER, linger=LINGER),
    Subscription(source="queue", subject="queue.appointment.>", durable="gateway-notify-appointments",
                 handler=on_queue_event, together=TOGETHER, linger=LINGER),
]
