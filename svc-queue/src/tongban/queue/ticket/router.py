import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from tongban.queue import clock
from tongban.queue.clock import SettingsDep
from tongban.queue.counter.errors import CounterNotFound, CounterNotOpen, CounterTaken, NotYourHall
from tongban.queue.hall.errors import CategoryNotFound, HallClosed, HallNotFound
from tongban.queue.hall.service import get_hall
from tongban.queue.ticket import repository, service
from tongban.queue.ticket.errors import (
    AlreadyQueued, AlreadyRated, CannotTakeTicket, TicketClosed, TicketNotFound, TicketNotHere,
)
from tongban.queue.ticket.schemas import CallNext, CaseLink, RatingCreate, TicketCreate, TicketRead, Transfer
from tongban.queue.policy import ERRORS as AUTH_ERRORS, POLICY, Can, Caller
from tongban.shared.auth import NotOwner
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.policy import Target, admit
from tongban.shared.pagination import Page, PageDep, page_of, paginate

router = APIRouter(tags=["tickets"])


async def _shapes(request: Request) -> service.CounterShapes:
    return request.app.state.counter_shapes  # type: ignore[no-any-return]


Shapes = Annotated[service.CounterShapes, Depends(_shapes)]
Clerk = Caller("counter.operate")
OPERATE_ERRORS = (*AUTH_ERRORS, CounterNotFound, NotYourHall, CounterTaken, CounterNotOpen)


@router.post("/halls/{hall_id}/tickets", summary="取号", status_code=201, response_model=TicketRead,
             responses=responses(*AUTH_ERRORS, HallNotFound, CategoryNotFound, HallClosed, AlreadyQueued,
                                 CannotTakeTicket, InvalidField, IdempotencyKeyReused))
async def take_ticket(hall_id: uuid.UUID, body: TicketCreate, session: SessionDep, access: Can("ticket.take"),
                      settings: SettingsDep, idem: IdempotencyDep):
    """Take a number: on site (a clerk of the hall, or its kiosk) or remote (a citizen, queue:book,
    while the hall is open)."""
    actor = access.principal
    if actor.role == "clerk":
        access.check(Target(hall=str(hall_id)))
    elif body.case_id is not None:
        admit(POLICY, "case_linked.book", actor)   # a ticket tied to a case: a verified name
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    # Nothing runs SQL after the ticket's statement (a key's `remember` follows its claim, in the
    # transaction the claim began): it may be the request's last, and only, write.
    ticket, figures = await service.issue_with_figures(session, settings, hall_id, body, actor, last=True)
    return await idem.remember(session, 201, await service.view(session, ticket, actor, figures))


@router.get("/tickets/mine", summary="我的排队号", response_model=Page[TicketRead])
async def my_tickets(session: SessionDep, page: PageDep, actor: Caller("ticket.mine")) -> Page[TicketRead]:
    """The caller's own tickets, newest first."""
    raw = await paginate(session, repository.person_query(actor.sub), page)
    return page_of([await service.view(session, t, actor) for t in raw.items], raw.total, page)


@router.get("/tickets/{ticket_id}", summary="排队号详情", response_model=TicketRead,
            responses=responses(*AUTH_ERRORS, TicketNotFound, NotOwner, NotYourHall))
async def get_ticket(ticket_id: uuid.UUID, session: SessionDep, actor: Caller("ticket.read")) -> TicketRead:
    """A ticket, with how many are ahead and the estimated wait (its holder, the hall's clerks)."""
    return await service.view(session, await service.get_visible(session, ticket_id, actor), actor)


@router.post("/tickets/{ticket_id}/cancel", summary="取消排队号", response_model=TicketRead,
             responses=responses(*AUTH_ERRORS, TicketNotFound, NotOwner, TicketClosed))
async def cancel_ticket(ticket_id: uuid.UUID, session: SessionDep, actor: Caller("ticket.cancel"),
                        settings: SettingsDep) -> TicketRead:
    """Give up a waiting ticket."""
    return await service.view(session, await service.cancel(session, settings, ticket_id, actor), actor)


@router.post("/tickets/{ticket_id}/rating", summary="评价窗口服务", response_model=TicketRead,
             responses=responses(*AUTH_ERRORS, TicketNotFound, NotOwner, TicketClosed, AlreadyRated,
                                 IdempotencyKeyReused))
async def rate_ticket(ticket_id: uuid.UUID, body: RatingCreate, session: SessionDep, actor: Caller("ticket.rate"),
                      idem: IdempotencyDep):
    """Rate the counter after being served (the ticket's holder, once; a retry with the same
    Idempotency-Key gets the first answer rather than 409)."""
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    ticket = await service.rate(session, ticket_id, actor, body)
    return await idem.remember(session, 200, await service.view(session, ticket, actor))


@router.get("/halls/{hall_id}/tickets", response_model=Page[TicketRead],
            responses=responses(*AUTH_ERRORS, HallNotFound, NotYourHall))
async def hall_tickets(hall_id: uuid.UUID, session: SessionDep, page: PageDep, access: Can("hall_ticket.list"),
                       settings: SettingsDep,
                       day: dt.date | None = None,
                       status: Annotated[str | None, Query(pattern=r"^[a-z_]{1,10}$")] = None) -> Page[TicketRead]:
    """A hall's tickets of a day (its clerks)."""
    await get_hall(session, hall_id)
    access.check(Target(hall=str(hall_id)))
    actor = access.principal
    raw = await paginate(session, repository.hall_query(hall_id, day or clock.today(settings), status), page)
    return page_of([await service.view(session, t, actor) for t in raw.items], raw.total, page)


@router.post("/counters/{counter_id}/call-next", response_model=TicketRead,
             responses={204: {"description": "nobody waits for this counter"}, **responses(*OPERATE_ERRORS)})
async def call_next(counter_id: uuid.UUID, session: SessionDep, actor: Clerk, settings: SettingsDep,
                    shapes: Shapes, body: CallNext | None = None):
    """下一位: close the ticket at the counter (done, or no_show) and call the next one by skill
    weight, then priority, then arrival. 204 when nobody waits for this counter."""
    ticket = await service.call_next(session, settings, shapes, counter_id, actor, (body or CallNext()).previous)
    if ticket is None:
        return Response(status_code=204)
    return await service.view(session, ticket, actor)


@router.post("/counters/{counter_id}/recall", response_model=TicketRead,
             responses=responses(*OPERATE_ERRORS, TicketNotHere))
async def recall(counter_id: uuid.UUID, session: SessionDep, actor: Clerk) -> TicketRead:
    """Call the current ticket again."""
    return await service.view(session, await service.recall(session, counter_id, actor), actor)


@router.post("/counters/{counter_id}/skip", response_model=TicketRead,
             responses=responses(*OPERATE_ERRORS, TicketNotHere))
async def skip(counter_id: uuid.UUID, session: SessionDep, actor: Clerk) -> TicketRead:
    """The called person did not come: close the ticket as a no-show."""
    return await service.view(session, await service.skip(session, counter_id, actor), actor)


@router.post("/counters/{counter_id}/start", response_model=TicketRead,
             responses=responses(*OPERATE_ERRORS, TicketNotHere))
async def start(counter_id: uuid.UUID, session: SessionDep, actor: Clerk, body: CaseLink | None = None) -> TicketRead:
    """The person arrived at the counter: serving starts, optionally linked to a case."""
    ticket = await service.start(session, counter_id, actor, body.case_id if body else None)
    return await service.view(session, ticket, actor)


@router.post("/counters/{counter_id}/finish", response_model=TicketRead,
             responses=responses(*OPERATE_ERRORS, TicketNotHere))
async def finish(counter_id: uuid.UUID, session: SessionDep, actor: Clerk, body: CaseLink | None = None) -> TicketRead:
    """Serving is over; the holder may now rate it."""
    ticket = await service.finish(session, counter_id, actor, body.case_id if body else None)
    return await service.view(session, ticket, actor)


@router.post("/counters/{counter_id}/transfer", response_model=TicketRead,
             responses=responses(*OPERATE_ERRORS, TicketNotHere, InvalidField))
async def transfer(counter_id: uuid.UUID, body: Transfer, session: SessionDep, actor: Clerk) -> TicketRead:
    """Send the current ticket to another category or counter; it keeps its place in line."""
    return await service.view(session, await service.transfer(session, counter_id, actor, body), actor)
