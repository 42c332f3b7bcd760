import uuid

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tongban.gateway.delegation import service
from tongban.gateway.delegation.errors import (
    DelegationNotFound, DelegationRevoked, NotAnAgentAccount, NotAnAgentOfTheCompany, NotLegalRepresentative,
)
from tongban.gateway.delegation.schemas import DelegationCreate, DelegationRead, DelegationRevoke, DelegationWitness
from tongban.gateway.policy import ERRORS as AUTH_ERRORS
from tongban.gateway.policy import Caller
from tongban.shared.auth import NotOwner, RealNameRequired
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses
from tongban.shared.idempotency import BadIdempotencyKey, IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep

router = APIRouter(prefix="/auth/delegations", tags=["delegations"])
Delegator = Caller("delegation.grant")
Witness = Caller("delegation.witness")


@router.post("", summary="委托他人代办", status_code=201, response_model=DelegationRead,
             responses=responses(*AUTH_ERRORS, NotLegalRepresentative, NotAnAgentOfTheCompany, NotAnAgentAccount,
                                 RealNameRequired, BadIdempotencyKey, IdempotencyKeyReused))
async def create_delegation(data: DelegationCreate, session: SessionDep, idem: IdempotencyDep,
                            caller: Delegator) -> JSONResponse:
    """The principal delegates online: a company's legal representative or administrator to one of
    the company's agents, a verified citizen to another citizen (a daughter, say); items, actions,
    from-until."""
    if (replay := await idem.claim(session, caller.sub)) is not None:
        return replay
    delegation = await service.create(session, caller, data)
    return await idem.remember(session, 201, DelegationRead.model_validate(delegation))


@router.post("/witnessed", status_code=201, response_model=DelegationRead,
             responses=responses(*AUTH_ERRORS, NotAnAgentOfTheCompany, NotAnAgentAccount,
                                 BadIdempotencyKey, IdempotencyKeyReused))
async def witness_delegation(data: DelegationWitness, session: SessionDep, idem: IdempotencyDep,
                             clerk: Witness) -> JSONResponse:
    """A clerk records a delegation the principal signed at the counter, with the 委托书's reference."""
    if (replay := await idem.claim(session, clerk.sub)) is not None:
        return replay
    delegation = await service.witness(session, clerk, data)
    return await idem.remember(session, 201, DelegationRead.model_validate(delegation))


@router.get("", summary="我的委托", response_model=Page[DelegationRead], responses=responses(*AUTH_ERRORS, NotOwner))
async def list_delegations(session: SessionDep, page: PageDep,
                           caller: Caller("delegation.list")) -> Page[DelegationRead]:
    """Delegations the caller granted (as the principal) or was given (as the agent), newest first."""
    return await service.list_visible(session, caller, page)


@router.post("/{delegation_id}/revoke", summary="撤销委托", response_model=DelegationRead,
             responses=responses(*AUTH_ERRORS, NotLegalRepresentative, DelegationNotFound, DelegationRevoked))
async def revoke_delegation(delegation_id: uuid.UUID, data: DelegationRevoke, session: SessionDep,
                            caller: Caller("delegation.revoke")) -> DelegationRead:
    """Revoke a delegation, with the reason (its principal, or a clerk at the counter): the agent's
    tokens that carry it are refused from the next request on."""
    return DelegationRead.model_validate(await service.revoke(session, caller, delegation_id, data))
