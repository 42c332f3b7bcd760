import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from tongban.cases.case.errors import NotAllowedForRole, WrongCaseState
from tongban.cases.ticket import repository, service
from tongban.cases.ticket.schemas import HotlinePolicy, TicketAct, TicketAction, TicketCreate, TicketRead
from tongban.cases.policy import POLICY
from tongban.shared.auth import AUTH_ERRORS, OutsideDelegation, OutsideScope, RealNameRequired
from tongban.shared.policy import Access, Authorize
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(tags=["hotline tickets"])
Opener = Annotated[Access, Depends(Authorize(POLICY, "ticket.open"))]
Reader = Annotated[Access, Depends(Authorize(POLICY, "ticket.read"))]
Actor = Annotated[Access, Depends(Authorize(POLICY, "ticket.act"))]
SettingReader = Annotated[Access, Depends(Authorize(POLICY, "setting.read"))]
SettingManager = Annotated[Access, Depends(Authorize(POLICY, "setting.manage"))]
TRUST_ERRORS = (RealNameRequired, OutsideDelegation, OutsideScope)


@router.post("/tickets", summary="咨询、投诉与建议（12345 工单）", status_code=201, response_model=TicketRead,
             responses=responses(*AUTH_ERRORS, InvalidField, IdempotencyKeyReused))
async def open_ticket(body: TicketCreate, session: SessionDep, access: Opener, idem: IdempotencyDep):
    """A 12345 ticket or 办不成事 report (`category: unresolved`): by a citizen, or a clerk taking a call."""
    actor = access.principal
    assert actor is not None  # the policy admits no anonymous ticket
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    ticket = await service.receive(session, body, actor)
    return await idem.remember(session, 201, service.to_read(ticket, actor))


@router.get("/tickets", summary="我的工单", response_model=Page[TicketRead], responses=responses(*AUTH_ERRORS))
async def list_tickets(session: SessionDep, page: PageDep, access: Reader,
                       state: Annotated[str | None, Query(max_length=20)] = None) -> Page[TicketRead]:
    """Tickets the caller may see (its own, its halls' and departments'); open ones first, earliest due first."""
    actor = access.principal
    return await paginate(session, repository.list_query(actor, access.reach(), state), page,
                          lambda t: service.to_read(t, actor))


@router.get("/tickets/{ticket_id}", summary="工单详情", response_model=TicketRead,
            responses=responses(*AUTH_ERRORS, *TRUST_ERRORS, service.TicketNotFound))
async def get_ticket(ticket_id: uuid.UUID, session: SessionDep, access: Reader) -> TicketRead:
    """One ticket (404 for anyone who may not see it)."""
    return service.to_read(await service.get_visible(session, ticket_id, access), access.principal)


@router.post("/tickets/{ticket_id}/{action}", response_model=TicketRead,
             responses=responses(*AUTH_ERRORS, *TRUST_ERRORS, service.TicketNotFound, WrongCaseState,
                                 NotAllowedForRole, InvalidField))
async def act_on_ticket(ticket_id: uuid.UUID, action: TicketAction, body: TicketAct, session: SessionDep,
                        access: Actor) -> TicketRead:
    """Clerks dispatch (`department`) and close (`satisfaction` from the callback); the department
    handles and replies (`reply`); the caller (or a clerk) reopens within the window."""
    return service.to_read(await service.act(session, ticket_id, action, body, access), access.principal)


@router.get("/settings/hotline-policy", response_model=HotlinePolicy, responses=responses(*AUTH_ERRORS))
async def get_hotline_policy(session: SessionDep, _: SettingReader) -> HotlinePolicy:
    """Category deadlines (working days) and the reopen window."""
    return await service.policy(session)


@router.put("/settings/hotline-policy", response_model=HotlinePolicy, responses=responses(*AUTH_ERRORS))
async def put_hotline_policy(body: HotlinePolicy, session: SessionDep, access: SettingManager) -> HotlinePolicy:
    """Change the hotline policy (admins)."""
    return await service.set_policy(session, body, access.principal)
