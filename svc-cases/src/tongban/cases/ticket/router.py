import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from tongban.cases.case.errors import NotAllowedForRole, WrongCaseState
from tongban.cases.ticket import repository, service
from tongban.cases.ticket.schemas import HotlinePolicy, TicketAct, TicketAction, TicketCreate, TicketRead
from tongban.shared.auth import AUTH_ERRORS, AnyPrincipal, Principal, Requires
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(tags=["hotline tickets"])
CaseReader = Annotated[Principal, Depends(Requires("cases:read"))]
CasesAdmin = Annotated[Principal, Depends(Requires("cases:admin"))]


@router.post("/tickets", status_code=201, response_model=TicketRead,
             responses=responses(*AUTH_ERRORS, InvalidField, IdempotencyKeyReused))
async def open_ticket(body: TicketCreate, session: SessionDep, actor: AnyPrincipal, idem: IdempotencyDep):
    """A 12345 ticket or 办不成事 report (`category: unresolved`): by a citizen, or a clerk taking a call."""
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    ticket = await service.receive(session, body, actor)
    return await idem.remember(session, 201, service.to_read(ticket, actor))


@router.get("/tickets", response_model=Page[TicketRead], responses=responses(*AUTH_ERRORS))
async def list_tickets(session: SessionDep, page: PageDep, actor: CaseReader,
                       state: str | None = None) -> Page[TicketRead]:
    """Tickets the caller may see; open ones first, earliest due first."""
    return await paginate(session, repository.list_query(actor, state), page,
                          lambda t: service.to_read(t, actor))


@router.get("/tickets/{ticket_id}", response_model=TicketRead,
            responses=responses(*AUTH_ERRORS, service.TicketNotFound))
async def get_ticket(ticket_id: uuid.UUID, session: SessionDep, actor: CaseReader) -> TicketRead:
    """One ticket (404 for anyone who may not see it)."""
    return service.to_read(await service.get_visible(session, ticket_id, actor), actor)


@router.post("/tickets/{ticket_id}/{action}", response_model=TicketRead,
             responses=responses(*AUTH_ERRORS, service.TicketNotFound, WrongCaseState, NotAllowedForRole,
                                 InvalidField))
async def act_on_ticket(ticket_id: uuid.UUID, action: TicketAction, body: TicketAct, session: SessionDep,
                        actor: CaseReader) -> TicketRead:
    """Clerks dispatch (`department`) and close (`satisfaction` from the callback); the department
    handles and replies (`reply`); the caller (or a clerk) reopens within the window."""
    return service.to_read(await service.act(session, ticket_id, action, body, actor), actor)


@router.get("/settings/hotline-policy", response_model=HotlinePolicy, responses=responses(*AUTH_ERRORS))
async def get_hotline_policy(session: SessionDep, _: CaseReader) -> HotlinePolicy:
    """Category deadlines (working days) and the reopen window."""
    return await service.policy(session)


@router.put("/settings/hotline-policy", response_model=HotlinePolicy, responses=responses(*AUTH_ERRORS))
async def put_hotline_policy(body: HotlinePolicy, session: SessionDep, actor: CasesAdmin) -> HotlinePolicy:
    """Change the hotline policy (admins)."""
    return await service.set_policy(session, body, actor)
