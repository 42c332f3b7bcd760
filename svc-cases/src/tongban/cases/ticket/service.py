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
from tongban.shared.auth import InsufficientScope, Principal
from tongban.shared.contracts import cases as contract
from tongban.shared.errors import InvalidField, NotFound
from tongban.shared.events.envelope import make_event
from tongban.shared.ids import InvalidIdentifier, mask_phone, mask_resident_id, normalize_credit_code, \
    normalize_resident_id

POLICY_KEY = "hotline_policy"
SEQUENCE_KEY = "12345"
STEPS: dict[str, tuple[frozenset[str], str, str]] = {   # action: (from states, to state, who)
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


async def receive(session: AsyncSession, body: TicketCreate, actor: Principal | str, source: str | None = None,
                  citizen: tuple[str, str] | None = None, department: str | None = None) -> HotlineTicket:
    """Open a ticket: from a citizen (for themselves), a clerk taking a call, or the platform (a bad rating)."""
    if citizen is None and isinstance(actor, Principal):
        if actor.has("cases:apply") and actor.id_number:
            citizen, source = (actor.id_number, actor.name or "-"), "citizen"
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
    today = calendar.today()
    rules = await policy(session)
    limit = rules.limits.get(body.category, rules.default_limit)
    overrides = await workdays.overrides_from(session, today)
    seq = await cases_repo.next_number(session, SEQUENCE_KEY, today)
    ticket = HotlineTicket(
        id=uuid.uuid4(), ticket_number=f"{SEQUENCE_KEY}{today:%Y%m%d}{seq:05d}", source=source or "clerk",
        category=body.category, citizen_id=citizen[0] if citizen else None,
        contact_name=body.contact_name or (citizen[1] if citizen else "-"), contact_phone=body.contact_phone,
        content=body.content, case_id=body.case_id, department=department,
        state="dispatched" if department else "received", limit_working_days=limit,
        received_on=calendar.receipt_day(today, overrides), due_on=calendar.add_working_days(today, limit, overrides),
        reopened=0, created_by=actor.sub if isinstance(actor, Principal) else actor)
    await repository.add(session, ticket)
    await audit.record(session, actor, "ticket.receive", "hotline_ticket", str(ticket.id), body.category,
                       {"ticket_number": ticket.ticket_number, "source": ticket.source})
    return ticket


def _may(who: str, ticket: HotlineTicket, p: Principal) -> bool:
    if who == "clerk":
        return p.has("cases:process")
    if who == "department":
        return p.has("cases:approve") and p.department is not None and p.department == ticket.department
    return (p.id_number is not None and p.id_number == ticket.citizen_id) or p.has("cases:process")


def can_see(ticket: HotlineTicket, p: Principal) -> bool:
    if p.role == "approver":
        return p.department is not None and p.department == ticket.department
    if p.role in ("clerk", "admin", "auditor"):
        return True
    return p.id_number is not None and p.id_number == ticket.citizen_id


async def get_visible(session: AsyncSession, ticket_id: uuid.UUID, p: Principal) -> HotlineTicket:
    ticket = await repository.get(session, ticket_id)
    if ticket is None or not can_see(ticket, p):
        raise TicketNotFound()
    return ticket


async def act(session: AsyncSession, ticket_id: uuid.UUID, action: str, body: TicketAct,
              p: Principal) -> HotlineTicket:
    """One step of the ticket's lifecycle (409 naming the state when it does not apply)."""
    from_states, to_state, who = STEPS[action]
    ticket = await get_visible(session, ticket_id, p)
    if ticket.state not in from_states:
        raise WrongCaseState(action, ticket.state, from_states)
    if not _may(who, ticket, p):
        raise NotAllowedForRole(f"{p.role} cannot {action} this ticket")
    today = calendar.today()
    at = dt.datetime.now(dt.UTC)
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
