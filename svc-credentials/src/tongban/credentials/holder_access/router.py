"""For svc-interop only (scope `credentials:present`): a holder's licences, listed and presented
at the request of the partner city where the holder is (深中通办). Mounted by main.py as
`from tongban.credentials.holder_access.router import router as holder_access_router`."""

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from tongban.credentials.consent.service import holder_of as caller_holder
from tongban.credentials.consent.service import holder_record
from tongban.credentials.holder_access import consent, service
from tongban.credentials.holder_access.errors import NotAServiceCaller
from tongban.credentials.holder_access.schemas import (
    HolderLicenceRead,
    HolderPresentationCreate,
    HolderPresentationRead,
    PartnerConsentCreate,
    PartnerConsentRead,
)
from tongban.credentials.licence.errors import LicenceNotFound
from tongban.credentials.policy import ERRORS as AUTH_ERRORS
from tongban.credentials.policy import Caller, Can
from tongban.credentials.presentation.errors import NotPresentable
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep

router = APIRouter(tags=["holder access (深中通办)"])
Presenter = Caller("holder.partner_access")
ConsentGiver = Can("holder.partner_consent")
ConsentToken = Annotated[str | None, Header(alias=consent.HEADER, max_length=4000,
                                            description="the holder's signed consent (TBC1...)")]
HolderId = Annotated[str, Path(min_length=15, max_length=18, pattern=r"^[0-9A-Za-z]+$",
                               description="resident ID number or unified social credit code")]
LicenceRef = Annotated[str, Path(min_length=1, max_length=80, pattern=r"^[0-9A-Za-z.\-]+$",
                                 description="the licence's id (UUID) or its identifier (GB/T 36904)")]


@router.get("/holders/{holder_id}/licences", response_model=Page[HolderLicenceRead],
            responses=responses(*AUTH_ERRORS, NotAServiceCaller, InvalidField, consent.PartnerConsentRequired))
async def list_holder_licences(holder_id: HolderId, request: Request, session: SessionDep, page: PageDep,
                               caller: Presenter,
                               partner: Annotated[str, Query(pattern=r"^\d{6}$",
                                                             description="the partner city asking")],
                               consent_token: ConsentToken = None) -> Page[HolderLicenceRead]:
    """A holder's current licences (type, issuer, status, validity; no field values), newest first,
    for the partner city where the holder asked (svc-interop, `credentials:present`), under her signed
    consent for that city (`X-Holder-Consent`); audited."""
    return await service.list_licences(session, caller, holder_id, partner, page, consent_token,
                                       request.app.state.settings.region_code)


@router.post("/holders/{holder_id}/licences/{licence}/presentations", status_code=201,
             response_model=HolderPresentationRead,
             responses=responses(*AUTH_ERRORS, NotAServiceCaller, LicenceNotFound, NotPresentable, InvalidField,
                                 IdempotencyKeyReused, consent.PartnerConsentRequired))
async def present_for_holder(holder_id: HolderId, licence: LicenceRef, body: HolderPresentationCreate,
                             request: Request, session: SessionDep, caller: Presenter, idem: IdempotencyDep,
                             consent_token: ConsentToken = None):
    """A presentation (亮证) of the holder's licence, exactly as the holder's own, made for the
    partner city that asked (svc-interop, `credentials:present`); audited with the purpose."""
    if (replay := await idem.claim(session, caller.sub)) is not None:
        return replay
    settings = request.app.state.settings
    made = await service.present(session, caller, holder_id, licence, body, settings.presentation_ttl_seconds,
                                 consent_token, settings.region_code)
    return await idem.remember(session, 201, made)


@router.post("/me/partner-consents", status_code=201, response_model=PartnerConsentRead,
             responses=responses(*AUTH_ERRORS, InvalidField, IdempotencyKeyReused))
async def give_partner_consent(body: PartnerConsentCreate, request: Request, session: SessionDep,
                               access: ConsentGiver, idem: IdempotencyDep):
    """Let this city's services see the licences a partner city issued you (深中通办), for a purpose,
    until a time (≤ 7 days): a token signed by this platform that our svc-interop carries to the
    partner city, whose svc-credentials checks it against its trust list (verified real name)."""
    holder_type, holder_id = caller_holder(access.principal)
    access.check(holder_record(holder_type, holder_id))
    if (replay := await idem.claim(session, access.principal.sub)) is not None:
        return replay
    settings = request.app.state.settings
    cid, token = await consent.issue(session, access.principal, holder_type, holder_id, settings.region_code,
                                     body.partner, body.purpose, body.expires_at, settings.consent_signer_code,
                                     settings.consent_signer_name)
    return await idem.remember(session, 201, PartnerConsentRead(id=cid, token=token, partner=body.partner,
                                                                purpose=body.purpose, expires_at=body.expires_at))
