import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from tongban.gateway.delegation import service
from tongban.gateway.delegation.errors import (
    DelegationNotFound, DelegationRevoked, NotAnAgentOfTheCompany, NotLegalRepresentative,
)
from tongban.gateway.delegation.schemas import DelegationCreate, DelegationRead, DelegationRevoke
from tongban.shared.auth import AUTH_ERRORS, NotOwner, Principal, Requires
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses
from tongban.shared.idempotency import BadIdempotencyKey, IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep

router = APIRouter(prefix="/auth/delegations", tags=["delegations"])
CompanyUser = Annotated[Principal, Depends(Requires("accounts:delegate"))]


@router.post("", status_code=201, response_model=DelegationRead,
             responses=responses(*AUTH_ERRORS, NotLegalRepresentative, NotAnAgentOfTheCompany,
                                 BadIdempotencyKey, IdempotencyKeyReused))
async def create_delegation(data: DelegationCreate, session: SessionDep, idem: IdempotencyDep,
                            caller: CompanyUser) -> JSONResponse:
    """The legal representative delegates items to one of the company's agents until an expiry."""
    if (replay := await idem.claim(session, caller.sub)) is not None:
        return replay
    delegation = await service.create(session, caller, data)
    return await idem.remember(session, 201, DelegationRead.model_validate(delegation))


@router.get("", response_model=Page[DelegationRead], responses=responses(*AUTH_ERRORS, NotOwner))
async def list_delegations(session: SessionDep, page: PageDep, caller: CompanyUser) -> Page[DelegationRead]:
    """The company's delegations (an agent sees only their own), newest first."""
    return await service.list_visible(session, caller, page)


@router.post("/{delegation_id}/revoke", response_model=DelegationRead,
             responses=responses(*AUTH_ERRORS, NotLegalRepresentative, DelegationNotFound, DelegationRevoked))
async def revoke_delegation(delegation_id: uuid.UUID, data: DelegationRevoke, session: SessionDep,
                            caller: CompanyUser) -> DelegationRead:
    """Revoke a delegation, with the reason; the agent's next token no longer carries it."""
    return DelegationRead.model_validate(await service.revoke(session, caller, delegation_id, data))
