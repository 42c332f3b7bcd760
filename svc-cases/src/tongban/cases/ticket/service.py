"""12345 hotline tickets and "could not get it done" reports: the lifecycle, category deadlines in
working days, supervision when overdue, callback and reopening."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from tongban.cases.case import repository as cases_repo
from tongban.cases.case.errors import NotAllowedForRole, WrongCaseState
from tongban.cases.db import audit, outbox
from tongban.cases.setting import repository as settings
from tongban.cases.ticket import repository
from tongban.cases.ticket.models import HotlineTicket
from tongban.cases.ticket.schemas import HotlinePolicy, TicketAct, TicketCreate, TicketRead
from tongban.cases.workday import calendar
from tongban.cases.workday import repository as workdays
from tongban.shared import clock
from tongban.cases.policy import OPENER_READS, POLICY
from tongban.shared.auth import InsufficientScope, NotOwner, Principal
from tongban.shared.errors import AppError
from tongban.shared.policy import Access, NotPermitted, Target, admit
from tongban.shared.contracts import cases as contract
from tongban.shared.contracts.interop import ReferralV1
from tongban.shared.errors import InvalidField, NotFound
from tongban.shared.events.envelope import make_event
from tongban.shared.ids import (
    InvalidIdentifier,
    mask_phone,
    mask_resident_id,
    normalize_credit_code,
    normalize_resident_id,
)

POLICY_KEY = "hotline_policy"
SEQUENCE_KEY = "12345"
STEPS: dict[str, tuple[frozenset[str], str, str]] = {   # action: (from states, to state, side: ticket.act.<side>)
    "dispatch": (frozenset({"received"}), "dispatched", "clerk"),
    "handle": (frozenset({"dispatched"}), "handling", "department"),
    "reply": (frozenset({"handling"}), "replied", "department"),
    "close": (frozenset({"replied"}), "closed", "clerk"),
    "reopen": (frozenset({"closed"}), "dispatched", "caller"),
}


class TicketNotFound(NotFound):
    code, title = "ticket_not_found", "No such hotline ticket"


async def policy(session: AsyncSession) -> HotlinePolicy:
    return HotlinePolicy.model_validate(await settings.get_setting(session, POLICY_KEY) or {})


async def set_policy(session: AsyncSession, body: HotlinePolicy, actor: Principal) -> HotlinePolicy:
    """Change category deadlines and the reopen window (admins), audited."""
    await settings.put_setting(session, POLICY_KEY, body.model_dump(), actor.sub)
    await audit.record(session, actor, "setting.put", "setting", POLICY_KEY, None, body.model_dump())
    return body


# The partner city's category wording (its 12345 system's own) mapped to ours. Anything else is
# taken as a consultation: the shortest deadline, so an unclassified referral is looked at soonest;
# the partner's wording stays on the ticket (`partner_category`) for the clerk who dispatches it.
PARTNER_CATEGORIES = {"咨询": "consultation", "consultation": "consultation", "投诉": "complaint",
                      "举报": "complaint", "complaint": "complaint", "求助": "help", "help": "help",
                      "建议": "suggestion", "意见": "suggestion", "suggestion": "suggestion",
                      "办不成事": "unresolved", "unresolved": "unresolved"}
UNKNOWN_PARTNER_CATEGORY = "consultation"
TICKET_EVENTS = {"reply": contract.TICKET_REPLIED, "close": contract.TICKET_CLOSED,
                 "reopen": contract.TICKET_REOPENED}


def partner_category(text: str) -> str:
    """Our category for the partner's wording: an exact match, else the first known word it contains."""
    key = "".join(text.split()).casefold()
    if key in PARTNER_CATEGORIES:
        return PARTNER_CATEGORIES[key]
    return next((ours for word, ours in PARTNER_CATEGORIES.items() if word in key), UNKNOWN_PARTNER_CATEGORY)


async def receive(session: AsyncSession, body: TicketCreate, actor: Principal | str, source: str | None = None,
                  citizen: tuple[str, str] | None = None, department: str | None = None) -> HotlineTicket:
    """Open a ticket: from a citizen (for themselves), a clerk taking a call, or the platform (a bad rating)."""
    if citizen is None and isinstance(actor, Principal):
        if actor.has("cases:apply") and actor.id_number:
            # Keyed by the caller's ID number only once it is proved: a self-declared account asks,
            # and reads its ticket back as the account that opened it (policy.OPENER_READS).
            citizen, source = (actor.id_number if actor.verified else None, actor.name or "-"), "citizen"
        elif actor.has("cases:process"):
            source = "clerk"
            ident = None
            if body.citizen_id:
                try:
                    ident = normalize_resident_id(body.citizen_id)
                except InvalidIdentifier as exc:
                    raise InvalidField("citizen_id", str(exc)) from exc
            citizen = (ident, body.contact_name or "-") if ident else None
        else:
            raise InsufficientScope("a ticket needs cases:apply (a citizen) or cases:process (a clerk)")
    return await _open(session, actor, source=source or "clerk", category=body.category,
                       citizen_id=citizen[0] if citizen else None,
                       contact_name=body.contact_name or (citizen[1] if citizen else "-"),
                       contact_phone=body.contact_phone, content=body.content, case_id=body.case_id,
                       department=department)


async def receive_referral(session: AsyncSession, referral: ReferralV1) -> HotlineTicket | None:
    """A hotline ticket the partner city referred to us (`interop.referral.received`) opens one of
    ours, source "partner", linked to the referral; the same referral opens it once. Other
    referrals (company migrations, our own outbound ones) are not tickets: None."""
    if referral.kind != "hotline" or referral.direction != "inbound" or referral.ticket is None:
        return None
    existing = await repository.by_referral(session, referral.referral_id)
    if existing is not None:
        return existing
    t = referral.ticket
    phone = t.caller_phone if t.caller_phone and len(t.caller_phone) <= 20 else None
    return await _open(session, f"partner:{referral.partner}", source="partner",
                       category=partner_category(t.category), citizen_id=None,
                       contact_name=t.caller_name[:100] or "-", contact_phone=phone,
                       content=f"{t.summary}\n{t.content}", case_id=None, department=None,
                       referral_id=referral.referral_id, partner_region=referral.partner[:6],
                       partner_ticket_number=t.ticket_number[:40],
                       partner_category=t.category[:100])


async def _open(session: AsyncSession, actor: Principal | str, *, category: str, department: str | None,
                **fields: object) -> HotlineTicket:
    today = calendar.today()
    rules = await policy(session)
    limit = rules.limits.get(category, rules.default_limit)
    overrides = await workdays.overrides_from(session, today)
    seq = await cases_repo.next_number(session, SEQUENCE_KEY, today)
    ticket = HotlineTicket(
        id=uuid.uuid4(), ticket_number=f"{SEQUENCE_KEY}{today:%Y%m%d}{seq:05d}", category=category,
        department=department, state="dispatched" if department else "received", limit_working_days=limit,
        received_on=calendar.receipt_day(today, overrides), due_on=calendar.add_working_days(today, limit, overrides),
        reopened=0, created_by=actor.sub if isinstance(actor, Principal) else actor, **fields)
    await repository.add(session, ticket)
    await audit.record(session, actor, "ticket.receive", "hotline_ticket", str(ticket.id), category,
                       {"ticket_number": ticket.ticket_number, "source": ticket.source,
                        **({"referral_id": str(ticket.referral_id)} if ticket.referral_id else {})})
    await _publish(session, ticket, contract.TICKET_OPENED, clock.now())
    return ticket


async def _publish(session: AsyncSession, ticket: HotlineTicket, event: str, at: dt.datetime) -> None:
    """`cases.ticket.*` through the outbox (svc-interop reports a referral's outcome to the partner)."""
    await outbox.add(session, make_event("cases", event, contract.TicketChangedV1(
        ticket_id=ticket.id, ticket_number=ticket.ticket_number, source=ticket.source, category=ticket.category,
        state=ticket.state, department=ticket.department, referral_id=ticket.referral_id,
        reply=ticket.reply if event in (contract.TICKET_REPLIED, contract.TICKET_CLOSED) else None, at=at,
        citizen_sub=ticket.created_by if ticket.source == "citizen" and ticket.citizen_id else None),
        subject=str(ticket.id)))


def target(ticket: HotlineTicket) -> Target:
    """What the policy asks of a ticket: whose it is (the caller it is about), its department."""
    return Target(owner=ticket.citizen_id, department=ticket.department)


def decide(access: Access, ticket: HotlineTicket, *, hidden: bool) -> None:
    """The policy's answer for this ticket; `not_owner` is 404 where existence must not leak."""
    p = access.principal
    if access.permission in OPENER_READS and p is not None and ticket.created_by == p.sub:
        return
    try:
        access.check(target(ticket))
    except (NotOwner, NotPermitted, InsufficientScope) as exc:
        if hidden:
            raise TicketNotFound() from exc
        raise NotAllowedForRole(f"{p.role if p else 'anonymous'} cannot {access.permission} this ticket") from exc


async def get_visible(session: AsyncSession, ticket_id: uuid.UUID, access: Access) -> HotlineTicket:
    ticket = await repository.get(session, ticket_id)
    if ticket is None:
        raise TicketNotFound()
    decide(access, ticket, hidden=True)
    return ticket


async def act(session: AsyncSession, ticket_id: uuid.UUID, action: str, body: TicketAct,
              access: Access) -> HotlineTicket:
    """One step of the ticket's lifecycle: the policy first (`ticket.act` on the ticket, then the
    step's side `ticket.act.<side>`), then the state (409 naming it when the step does not apply)."""
    p = access.principal
    assert p is not None  # the policy admits no anonymous step
    from_states, to_state, who = STEPS[action]
    ticket = await get_visible(session, ticket_id, access)
    try:
        side = admit(POLICY, f"ticket.act.{who}", p)
    except AppError as exc:
        raise NotAllowedForRole(f"{p.role} cannot {action} a ticket") from exc
    decide(side, ticket, hidden=False)
    if ticket.state not in from_states:
        raise WrongCaseState(action, ticket.state, from_states)
    today = calendar.today()
    at = clock.now()
    if action == "dispatch":
        if not body.department:
            raise InvalidField("department", "required to dispatch")
        try:
            ticket.department = normalize_credit_code(body.department)
        except InvalidIdentifier as exc:
            raise InvalidField("department", str(exc)) from exc
    elif action == "reply":
        if not body.reply:
            raise InvalidField("reply", "required to reply")
        ticket.reply, ticket.replied_at = body.reply, at
    elif action == "close":
        if body.satisfaction is None:
            raise InvalidField("satisfaction", "the callback's result is required to close")
        ticket.satisfaction, ticket.closed_at = body.satisfaction, at
    elif action == "reopen":
        window = (await policy(session)).reopen_days
        if ticket.closed_at is None or at - ticket.closed_at > dt.timedelta(days=window):
            raise WrongCaseState("reopen", f"closed more than {window} days ago", frozenset({"closed"}))
        overrides = await workdays.overrides_from(session, today)
        ticket.reopened += 1
        ticket.received_on = calendar.receipt_day(today, overrides)
        ticket.due_on = calendar.add_working_days(today, ticket.limit_working_days, overrides)
        ticket.supervised_at = ticket.reply = ticket.satisfaction = ticket.closed_at = None
    from_state, ticket.state = ticket.state, to_state
    await audit.record(session, p, f"ticket.{action}", "hotline_ticket", str(ticket.id), body.reason,
                       {"from": from_state, "to": to_state})
    if action in TICKET_EVENTS:
        await _publish(session, ticket, TICKET_EVENTS[action], at)
    return ticket


async def supervise_overdue(session: AsyncSession, today: dt.date, at: dt.datetime) -> int:
    """Flag open tickets past their due date for supervision (督办), once each, with an event."""
    done = 0
    for ticket in await repository.overdue_unsupervised(session, today):
        ticket.supervised_at = at
        await audit.record(session, "system:hotline-supervision", "ticket.supervise", "hotline_ticket",
                           str(ticket.id), f"overdue since {ticket.due_on}")
        await outbox.add(session, make_event("cases", contract.TICKET_SUPERVISED, contract.TicketSupervisedV1(
            ticket_id=ticket.id, ticket_number=ticket.ticket_number, category=ticket.category,
            department=ticket.department, state=ticket.state, due_on=ticket.due_on, at=at),
            subject=str(ticket.id)))
        done += 1
    return done


def to_read(ticket: HotlineTicket, p: Principal) -> TicketRead:
    """Caller's numbers masked for anyone but the caller."""
    read = TicketRead.model_validate(ticket)
    if not (p.id_number and p.id_number == ticket.citizen_id):
        read.citizen_id = mask_resident_id(ticket.citizen_id) if ticket.citizen_id else None
        read.contact_phone = mask_phone(ticket.contact_phone) if ticket.contact_phone else None
    return read
