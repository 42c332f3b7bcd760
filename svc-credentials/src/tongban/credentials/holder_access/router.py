"""For svc-interop only (scope `credentials:present`): a holder's licences, listed and presented
at the request of the partner city where the holder is (深中通办). Mounted by main.py as
`from tongban.credentials.holder_access.router import router as holder_access_router`."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from tongban.credentials.holder_access import service
from tongban.credentials.holder_access.errors import NotAServiceCaller
from tongban.credentials.holder_access.schemas import (
    HolderLicenceRead, HolderPresentationCreate, HolderPresentationRead,
)
from tongban.credentials.licence.errors import LicenceNotFound
from tongban.credentials.presentation.errors import NotPresentable
from tongban.shared.auth import AUTH_ERRORS, Principal, Requires
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep

router = APIRouter(tags=["holder access (深中通办)"])
Presenter = Annotated[Principal, Depends(Requires("credentials:present"))]
HolderId = Annotated[str, Path(min_length=15, max_length=18, pattern=r"^[0-9A-Za-z]+$",
                               description="resident ID number or unified social credit code")]
LicenceRef = Annotated[str, Path(min_length=1, max_length=80, pattern=r"^[0-9A-Za-z.\-]+$",
                                 description="the licence's id (UUID) or its identifier (GB/T 36904)")]


@router.get("/holders/{holder_id}/licences", response_model=Page[HolderLicenceRead],
            responses=responses(*AUTH_ERRORS, NotAServiceCaller, InvalidField))
async def list_holder_licences(holder_id: HolderId, session: SessionDep, page: PageDep, caller: Presenter,
                               partner: Annotated[str, Query(pattern=r"^\d{6}$",
                                                             description="the partner city asking")]
                               ) -> Page[HolderLicenceRead]:
    """A holder's current licences (type, issuer, status, validity; no field values), newest first,
    for the partner city where the holder asked (svc-interop, `credentials:present`); audited."""
    return await service.list_licences(session, caller, holder_id, partner, page)


@router.post("/holders/{holder_id}/licences/{licence}/presentations", status_code=201,
             response_model=HolderPresentationRead,
             responses=responses(*AUTH_ERRORS, NotAServiceCaller, LicenceNotFound, NotPresentable, InvalidField,
                                 IdempotencyKeyReused))
async def present_for_holder(holder_id: HolderId, licence: LicenceRef, body: HolderPresentationCreate,
                             request: Request, session: SessionDep, caller: Presenter, idem: IdempotencyDep):
    """A presentation (亮证) of the holder's licence, exactly as the holder's own, made for the
    partner city that asked (svc-interop, `credentials:present`); audited with the purpose."""
    if (replay := await idem.claim(session, caller.sub)) is not None:
        return replay
    made = await service.present(session, caller, holder_id, licence, body,
                                 request.app.state.settings.presentation_ttl_seconds)
    return await idem.remember(session, 201, made)
