"""Ticket rules: taking a number, calling the next by skill weight, priority and arrival (one
transaction, so no ticket is ever called twice), and what happens at the counter afterwards."""

import datetime as dt
import uuid
from typing import NoReturn

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.queue import clock
from tongban.queue.catalog_copy import repository as catalog
from tongban.queue.config import Settings
from tongban.queue.counter import repository as counters
from tongban.queue.counter import service as counter_service
from tongban.queue.counter.errors import CounterNotFound, CounterNotOpen, CounterTaken, NotYourHall
from tongban.queue.counter.models import Counter
from tongban.queue.counter.service import CounterSeen
from tongban.queue.db import audit, outbox
from tongban.queue.hall import repository as halls
from tongban.queue.hall import service as hall_service
from tongban.queue.hall.errors import CategoryNotFound, HallClosed
from tongban.queue.notify import notify
from tongban.queue.ticket import repository
from tongban.queue.ticket.errors import (
    AlreadyQueued, AlreadyRated, CannotTakeTicket, TicketClosed, TicketNotFound, TicketNotHere,
)
from tongban.queue.ticket.models import PRIORITY_APPOINTMENT, PRIORITY_GREEN, PRIORITY_NORMAL, Ticket
from tongban.queue.ticket.schemas import RatingCreate, TicketCreate, TicketRead, Transfer
from tongban.shared.auth import Principal, ensure_owner
from tongban.shared.contracts.queue import (
    TICKET_APPROACHING, TICKET_CALLED, TICKET_CANCELLED, TICKET_FINISHED, TICKET_ISSUED, TICKET_RATED, TICKET_SKIPPED,
    TICKET_STARTED, TICKET_TRANSFERRED, TicketApproachingV1, TicketRatedV1, TicketV1,
)
from tongban.shared.errors import InvalidField
from tongban.shared.events.envelope import make_event
from tongban.shared.ids import mask_resident_id

ELDERLY_AGE = 60
# A ticket as the hot paths hold it: a mapped object, or a row a prebuilt statement returned
# (the same column names), read by `_emit` and `view` alike.
TicketLike = Ticket | Row
# (waiting tickets ahead, the category's recent average service seconds, open counters serving it)
WaitFigures = tuple[int, float | None, int]


def _age(id_number: str, today: dt.date) -> int:
    born = dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _seconds(a: dt.datetime | None, b: dt.datetime | None) -> float | None:
    return (b - a).total_seconds() if a and b else None


async def _emit(session: AsyncSession, ticket: TicketLike, subject: str, counter: Counter | CounterSeen | None = None,
                live: bool = True, reason: str | None = None) -> None:
    start = ticket.started_at or ticket.called_at
    await outbox.add(session, make_event("queue", subject, TicketV1(
        ticket_id=ticket.id, hall_id=ticket.hall_id, day=ticket.day, number=ticket.number, category=ticket.category,
        status=ticket.status, priority=ticket.priority, channel=ticket.channel, person_sub=ticket.person_sub,
        item_code=ticket.item_code, counter_id=ticket.counter_id, counter_number=counter.number if counter else None,
        case_id=ticket.case_id, call_count=ticket.call_count, wait_seconds=_seconds(ticket.queued_at, ticket.called_at),
        service_seconds=_seconds(start, ticket.finished_at) if ticket.status == "done" else None, reason=reason,
        at=clock.now()),
        subject=str(ticket.id)))
    if not live:
        return
    await notify(session, ticket.hall_id, subject.rsplit(".", 1)[1], {
        "ticket_id": str(ticket.id), "number": ticket.number, "category": ticket.category, "status": ticket.status,
        "counter_id": str(counter.id) if counter else None, "counter_number": counter.number if counter else None,
        "call_count": ticket.call_count})


async def issue(session: AsyncSession, settings: Settings, hall_id: uuid.UUID, data: TicketCreate,
                actor: Principal, appointment_id: uuid.UUID | None = None,
                holder: tuple[str, str | None] | None = None) -> Ticket:
    """Take a number. On site: a clerk of the hall (any time). Remote: a citizen with queue:book,
    only while the hall is open, one open ticket per category. Appointment check-ins come first."""
    return (await issue_with_figures(session, settings, hall_id, data, actor, appointment_id, holder))[0]


async def issue_with_figures(session: AsyncSession, settings: Settings, hall_id: uuid.UUID, data: TicketCreate,
                             actor: Principal, appointment_id: uuid.UUID | None = None,
                             holder: tuple[str, str | None] | None = None,
                             last: bool = False) -> tuple[Ticket, WaitFigures]:
    """`issue`, with the new ticket's wait figures (for `view`), read by the ticket's own INSERT.

    On the hot path (on site or an appointment, no item code) the number's statement also checks
    the category. `last`: the caller runs no statement after this one in the request, so the
    ticket, its figures, its event and its audit record are one statement (with no statement
    before it, its own transaction: db.write_last)."""
    on_site = actor.has("queue:operate") and str(hall_id) in actor.halls
    # A category belongs to its hall (foreign key): when it is found, the hall exists, and only a
    # remote ticket reads the hall itself (its opening hours), below.
    if not (on_site or appointment_id is not None) or data.item_code:
        if await halls.get_category(session, hall_id, data.category) is None:
            await _category_not_found(session, hall_id, data.category)
    if data.item_code and not await catalog.known_codes(session, {data.item_code}):
        raise InvalidField("item_code", f"{data.item_code} is not an item of the catalogue")
    day = clock.today(settings)
    priority, reason = PRIORITY_NORMAL, None
    if appointment_id is not None:
        channel, priority, reason = "appointment", PRIORITY_APPOINTMENT, "appointment"
    elif on_site:
        channel = "on_site"
        if data.green_reason:
            priority, reason = PRIORITY_GREEN, data.green_reason
    elif actor.has("queue:book"):
        channel = "remote"
        is_open, why = await hall_service.open_state(session, settings, await hall_service.get_hall(session, hall_id))
        if not is_open:
            raise HallClosed(f"remote tickets are taken only while the hall is open ({why})")
        if data.green_reason is not None:
            raise InvalidField("green_reason", "the green channel is granted by a clerk on site")
        if await repository.open_remote_ticket(session, hall_id, day, data.category, actor.sub):
            raise AlreadyQueued()
        if actor.id_number and _age(actor.id_number, day) >= ELDERLY_AGE:
            priority, reason = PRIORITY_GREEN, "elderly"
    else:
        raise CannotTakeTicket()
    seq = await repository.next_number(session, hall_id, day, data.category)
    if seq is None:  # the number's statement found no such category (the hot path's only check)
        await _category_not_found(session, hall_id, data.category)
    person_sub, id_number = holder or ((None, None) if channel == "on_site" else (actor.sub, actor.id_number))
    # A transient object (never added to the session): the INSERT is one prebuilt statement, no
    # unit-of-work flush; the event, the audit record and the answer read its attributes.
    ticket = Ticket(
        id=uuid.uuid4(), hall_id=hall_id, day=day, category=data.category, number=f"{data.category}{seq:03d}",
        item_code=data.item_code, priority=priority, priority_reason=reason, channel=channel,
        person_sub=person_sub, id_number=id_number,
        status="waiting", appointment_id=appointment_id, case_id=data.case_id, call_count=0)
    # The event and the audit record are kept first, so the INSERT's own statement writes them.
    await _emit(session, ticket, TICKET_ISSUED)
    await audit.record(session, actor, "ticket.issued", "ticket", str(ticket.id),
                       detail={"number": ticket.number, "channel": channel, "priority": priority})
    figures = await repository.insert_with_figures(session, ticket, last)
    return ticket, figures


async def _category_not_found(session: AsyncSession, hall_id: uuid.UUID, category: str) -> NoReturn:
    await hall_service.get_hall(session, hall_id)  # HallNotFound first
    raise CategoryNotFound(f"the hall has no category {category}")


async def _closed(session: AsyncSession, counter: Counter | CounterSeen, ticket: TicketLike, actor: Principal,
                  live: bool = True) -> None:
    """The event and audit record of a ticket just closed (its status done or no_show)."""
    await _emit(session, ticket, TICKET_FINISHED if ticket.status == "done" else TICKET_SKIPPED, counter, live)
    await audit.record(session, actor, f"ticket.{'finished' if ticket.status == 'done' else 'skipped'}", "ticket",
                       str(ticket.id), detail={"counter_id": str(counter.id), "case_id": ticket.case_id})


async def _close(session: AsyncSession, counter: Counter, ticket: Ticket, outcome: str, actor: Principal,
                 live: bool = True, free_counter: bool = True) -> None:
    ticket.status, ticket.finished_at = outcome, clock.now()
    if free_counter:
        counter.current_ticket_id = None
    await session.flush()
    await _closed(session, counter, ticket, actor, live)


async def _current(session: AsyncSession, counter: Counter, states: tuple[str, ...]) -> Ticket:
    ticket = await repository.get(session, counter.current_ticket_id, lock=True) if counter.current_ticket_id else None
    if ticket is None or ticket.status not in states:
        raise TicketNotHere(f"counter {counter.number} has no ticket that is {' or '.join(states)}")
    return ticket


class CounterShapes:
    """Each counter's hall and skills as this app instance last read them (repository.CounterShape):
    the shape call_next's statement is built for. The statement checks it itself, so a stale
    entry (another replica, or another route, changed the skills) costs one more statement,
    never a wrong call. Bounded: cleared when it grows past any real city's counters. One per
    app, on its state (main.lifespan), reached through the route's dependency."""

    MAX = 20_000

    def __init__(self) -> None:
        self._seen: dict[uuid.UUID, repository.CounterShape] = {}

    def get(self, counter_id: uuid.UUID) -> repository.CounterShape | None:
        return self._seen.get(counter_id)

    def remember(self, counter_id: uuid.UUID, shape: repository.CounterShape) -> None:
        if len(self._seen) >= self.MAX:
            self._seen.clear()
        self._seen[counter_id] = shape


async def call_next(session: AsyncSession, settings: Settings, shapes: CounterShapes, counter_id: uuid.UUID,
                    actor: Principal, previous: str = "done") -> TicketLike | None:
    """Close the counter's current ticket (done or no-show) and call the next one, or None when
    nobody waits for this counter. Counter row lock, then ticket row lock: one transaction. The
    closing and the call write their events and audit records together, one INSERT each."""
    async with outbox.batched(session), audit.batched(session):
        return await _call_next(session, settings, shapes, counter_id, actor, previous)


async def _call_next(session: AsyncSession, settings: Settings, shapes: CounterShapes, counter_id: uuid.UUID,
                     actor: Principal, previous: str) -> TicketLike | None:
    # Two round trips before the commit: the counter's lock with the BEGIN; then one statement
    # that reads the counter and, when it passes the checks below and has the skills the
    # statement was built for, closes its ticket, claims and calls the next one, points the
    # counter at it and marks the approaching ones. The events and audit records follow in one
    # statement before the COMMIT (db.BatchedInsert). With no shape known for the counter, or
    # when the shape known was stale (the statement then changed nothing), the statement that
    # reads the skills itself does the call: at most two statements, and always a call.
    await repository.lock_counter(session, counter_id)
    shape = shapes.get(counter_id)
    today, now, front = clock.today(settings), clock.now(), settings.approach_position + 1
    while True:
        rows = await repository.call_next(session, counter_id, shape, actor.sub, today, previous, now, front)
        head = next((r for r in rows if r.role == "counter"), None)
        if head is None:
            raise CounterNotFound()
        counter = CounterSeen(id=counter_id, hall_id=head.counter_hall_id, number=head.counter_number)
        counter_service.ensure_operator(actor, counter)
        if head.counter_status != "open":
            raise CounterNotOpen(f"counter {head.counter_number} is {head.counter_status}")
        if head.counter_clerk != actor.sub:
            raise CounterTaken(f"counter {head.counter_number} is operated by another clerk")
        seen = (head.counter_hall_id, tuple(head.counter_kinds), tuple(head.counter_vals),
                tuple(head.counter_weights))
        if seen != shape:
            shapes.remember(counter_id, seen)
        if shape is None or seen == shape:  # the unshaped statement acted on what it read
            break
        shape = None
    changed = [r for r in rows if r.role != "counter"]
    called = None
    for ticket in changed:
        if ticket.role == "closed":
            # No board update of its own: the call that follows replaces it on the screens.
            await _closed(session, counter, ticket, actor, live=False)
        elif ticket.role == "called":
            called = ticket
            await _emit(session, ticket, TICKET_CALLED, counter)
            await audit.record(session, actor, "ticket.called", "ticket", str(ticket.id),
                               detail={"counter_id": str(counter.id), "number": ticket.number})
        else:  # told: now this few ahead of a remote ticket, told once
            await outbox.add(session, make_event("queue", TICKET_APPROACHING, TicketApproachingV1(
                ticket_id=ticket.id, hall_id=ticket.hall_id, number=ticket.number, person_sub=ticket.person_sub,
                ahead=ticket.told_ahead), subject=str(ticket.id)))
    return called


async def _tell_the_approaching(session: AsyncSession, settings: Settings, hall_id: uuid.UUID, day: dt.date,
                                category: str) -> None:
    """Tell remote ticket holders who now have `approach_position` or fewer people ahead, once."""
    line = await repository.front_of_line(session, hall_id, day, category, settings.approach_position + 1)
    for ahead, (ticket_id, person_sub, notified_at) in enumerate(line):
        if person_sub is None or notified_at is not None:
            continue
        t = await repository.mark_notified(session, ticket_id, clock.now())
        if t is not None:
            await outbox.add(session, make_event("queue", TICKET_APPROACHING, TicketApproachingV1(
                ticket_id=t.id, hall_id=hall_id, number=t.number, person_sub=person_sub, ahead=ahead),
                subject=str(t.id)))


async def recall(session: AsyncSession, counter_id: uuid.UUID, actor: Principal) -> Ticket:
    """Call the counter's current ticket again (shown and announced again)."""
    counter = await counter_service.operated_counter(session, counter_id, actor)
    ticket = await _current(session, counter, ("called",))
    ticket.call_count += 1
    await session.flush()
    await _emit(session, ticket, TICKET_CALLED, counter)
    await audit.record(session, actor, "ticket.recalled", "ticket", str(ticket.id),
                       detail={"call_count": ticket.call_count})
    return ticket


async def skip(session: AsyncSession, counter_id: uuid.UUID, actor: Principal) -> Ticket:
    """The called person did not come: the ticket closes as a no-show."""
    counter = await counter_service.operated_counter(session, counter_id, actor)
    ticket = await _current(session, counter, ("called",))
    await _close(session, counter, ticket, "no_show", actor)
    return ticket


async def start(session: AsyncSession, counter_id: uuid.UUID, actor: Principal, case_id: str | None) -> Ticket:
    """The person is at the counter: serving starts (optionally linked to a case)."""
    counter = await counter_service.operated_counter(session, counter_id, actor)
    ticket = await _current(session, counter, ("called",))
    ticket.status, ticket.started_at = "serving", clock.now()
    ticket.case_id = case_id or ticket.case_id
    await session.flush()
    await _emit(session, ticket, TICKET_STARTED, counter)
    await audit.record(session, actor, "ticket.started", "ticket", str(ticket.id), detail={"case_id": ticket.case_id})
    return ticket


async def finish(session: AsyncSession, counter_id: uuid.UUID, actor: Principal, case_id: str | None) -> Ticket:
    """Serving is over (optionally naming the case opened for it)."""
    counter = await counter_service.operated_counter(session, counter_id, actor)
    ticket = await _current(session, counter, ("called", "serving"))
    ticket.case_id = case_id or ticket.case_id
    await _close(session, counter, ticket, "done", actor)
    return ticket


async def transfer(session: AsyncSession, counter_id: uuid.UUID, actor: Principal, data: Transfer) -> Ticket:
    """Send the current ticket to another category or counter of the hall; it keeps its place."""
    counter = await counter_service.operated_counter(session, counter_id, actor)
    ticket = await _current(session, counter, ("called", "serving"))
    if data.category is not None:
        if await halls.get_category(session, counter.hall_id, data.category) is None:
            raise InvalidField("category", f"the hall has no category {data.category}")
        ticket.category, ticket.target_counter_id = data.category, None
    else:
        target = await counters.get(session, data.counter_id)
        if target is None or target.hall_id != counter.hall_id:
            raise InvalidField("counter_id", "no such counter in this hall")
        if target.status == "closed":  # nobody there to call it: it would wait for nothing
            raise CounterNotOpen(f"nobody is signed in to counter {target.number}")
        ticket.target_counter_id = target.id
    ticket.status, ticket.counter_id, ticket.called_at, ticket.started_at = "waiting", None, None, None
    counter.current_ticket_id = None
    await session.flush()
    await _emit(session, ticket, TICKET_TRANSFERRED, counter)
    await audit.record(session, actor, "ticket.transferred", "ticket", str(ticket.id), reason=data.reason,
                       detail={"from_counter": str(counter.id), "category": ticket.category,
                               "to_counter": str(ticket.target_counter_id) if ticket.target_counter_id else None})
    return ticket


async def get_visible(session: AsyncSession, ticket_id: uuid.UUID, actor: Principal, lock: bool = False) -> Ticket:
    """The ticket for its holder, a clerk of its hall, or an admin."""
    ticket = await repository.get(session, ticket_id, lock=lock)
    if ticket is None:
        raise TicketNotFound()
    if actor.sub == ticket.person_sub or actor.has("queue:admin"):
        return ticket
    if actor.has("queue:operate"):
        if str(ticket.hall_id) not in actor.halls:
            raise NotYourHall()
        return ticket
    ensure_owner(actor, person=ticket.id_number or "")
    return ticket


async def view(session: AsyncSession, ticket: TicketLike, actor: Principal,
               figures: WaitFigures | None = None) -> TicketRead:
    """The ticket as `actor` may see it: position and estimated wait while waiting (`figures`
    when the caller already has them: a new ticket's come with its INSERT); the ID number
    masked for anyone but its holder."""
    read = TicketRead.model_validate(ticket)
    if ticket.id_number and actor.id_number != ticket.id_number:
        read.id_number = mask_resident_id(ticket.id_number)
    if ticket.status == "waiting":
        read.ahead, avg, serving = figures or await repository.wait_figures(session, ticket)
        if avg is not None and serving:  # no estimate while no open counter serves the category
            read.estimated_wait_seconds = round((read.ahead + 1) * avg / serving, 1)
    return read


async def cancel(session: AsyncSession, settings: Settings, ticket_id: uuid.UUID, actor: Principal) -> Ticket:
    """The holder gives up a waiting ticket; those behind move up (and may be told to come)."""
    ticket = await get_visible(session, ticket_id, actor, lock=True)
    if ticket.status != "waiting":
        raise TicketClosed(f"the ticket is {ticket.status}")
    ticket.status, ticket.finished_at = "cancelled", clock.now()
    await session.flush()
    await _emit(session, ticket, TICKET_CANCELLED)
    await _tell_the_approaching(session, settings, ticket.hall_id, ticket.day, ticket.category)
    await audit.record(session, actor, "ticket.cancelled", "ticket", str(ticket.id))
    return ticket


async def rate(session: AsyncSession, ticket_id: uuid.UUID, actor: Principal, data: RatingCreate) -> Ticket:
    """The holder rates the counter after being served (once)."""
    ticket = await repository.get(session, ticket_id, lock=True)
    if ticket is None:
        raise TicketNotFound()
    if ticket.person_sub != actor.sub:
        ensure_owner(actor, person=ticket.id_number or "")
    if ticket.status != "done":
        raise TicketClosed("only a served ticket can be rated")
    if ticket.rating is not None:
        raise AlreadyRated()
    ticket.rating, ticket.rating_comment = data.rating, data.comment
    await session.flush()
    await outbox.add(session, make_event("queue", TICKET_RATED, TicketRatedV1(
        ticket_id=ticket.id, hall_id=ticket.hall_id, counter_id=ticket.counter_id, rating=data.rating),
        subject=str(ticket.id)))
    await audit.record(session, actor, "ticket.rated", "ticket", str(ticket.id), detail={"rating": data.rating})
    return ticket


async def cancel_for_closure(session: AsyncSession, settings: Settings, hall_id: uuid.UUID, reason: str,
                             actor: Principal) -> int:
    """A closure from now: today's waiting tickets are cancelled and each holder told (event);
    tickets already at a counter are served to the end."""
    why = f"hall closed: {reason}"
    cancelled = await repository.waiting_of_day(session, hall_id, clock.today(settings))
    for ticket in cancelled:
        ticket.status, ticket.finished_at = "cancelled", clock.now()
        await session.flush()
        await _emit(session, ticket, TICKET_CANCELLED, reason=why)
        await audit.record(session, actor, "ticket.cancelled", "ticket", str(ticket.id), reason=why)
    return len(cancelled)
