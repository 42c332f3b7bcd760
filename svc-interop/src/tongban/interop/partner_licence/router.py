from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request

from tongban.interop.exchange.client import PartnerRefused, PartnerUnavailable
from tongban.interop.exchange.guard import EXCHANGE_ERRORS, Exchange
from tongban.interop.exchange.service import Inbound
from tongban.interop.partner.errors import PartnerNotFound
from tongban.interop.partner_licence import consent, service
from tongban.interop.partner_licence.errors import LicenceNotFound, NotAHolder, NotPresentable, OnBehalfOfMismatch
from tongban.interop.partner_licence.schemas import (
    HolderLicencesAsk, LicencePage, PartnerLicencePage, PartnerPresentationCreate, PartnerPresentationRead,
    PresentationAsk, PresentationMade,
)
from tongban.interop.policy import ERRORS as AUTH_ERRORS
from tongban.interop.policy import Caller
from tongban.shared.auth import RealNameRequired
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import PageDep
from tongban.shared.service_auth import UpstreamUnavailable

router = APIRouter(tags=["partner licences (深中通办 亮证)"])
REGION = r"^\d{6}$"
Presenting = Annotated[Inbound, Depends(Exchange("credentials.present"))]


Holder = Caller("partner_licence.read")
Presenter = Caller("partner_licence.present")
HolderConsent = Annotated[str | None, Header(alias=consent.HEADER, max_length=4000, description=(
    "the consent you gave in this city's app for the partner city (TBC1..., from POST "
    "/api/v1/credentials/me/partner-consents): carried, signed, to the partner, which checks it"))]
PARTNER_ERRORS = (*AUTH_ERRORS, RealNameRequired, consent.PartnerConsentRequired, NotAHolder, PartnerNotFound,
                  PartnerUnavailable, PartnerRefused)


@router.post("/exchange/holder-licences", response_model=LicencePage,
             responses=responses(*EXCHANGE_ERRORS, InvalidField, OnBehalfOfMismatch, consent.PartnerConsentRequired,
                                 UpstreamUnavailable))
async def holder_licences_for_partner(body: HolderLicencesAsk, request: Request, inbound: Presenting) -> LicencePage:
    """`credentials.present` (partners): a resident's licences issued here (type, issuer, status,
    validity; no field values), asked for by the partner city where the resident is. Read-only:
    a resent message id asks again."""
    return await service.list_for_partner(request.app.state.credentials, inbound, body)


@router.post("/exchange/presentations", status_code=201, response_model=PresentationMade,
             responses=responses(*EXCHANGE_ERRORS, InvalidField, OnBehalfOfMismatch, LicenceNotFound,
                                 NotPresentable, consent.PartnerConsentRequired, IdempotencyKeyReused,
                                 UpstreamUnavailable))
async def presentation_for_partner(body: PresentationAsk, request: Request, session: SessionDep,
                                   inbound: Presenting, idem: IdempotencyDep):
    """`credentials.present` (partners): a presentation (亮证) of one of the resident's licences issued
    here, made by our svc-credentials as the resident's own would be. The message id is the
    idempotency key: a resend gets the first answer."""
    if (replay := await idem.claim(session, inbound.owner)) is not None:
        return replay
    made = await service.present_for_partner(request.app.state.credentials, inbound, body)
    return await idem.remember(session, 201, made)


@router.get("/partner-licences", response_model=PartnerLicencePage, responses=responses(*PARTNER_ERRORS))
async def my_partner_licences(request: Request, session: SessionDep, page: PageDep, holder: Holder,
                              partner: Annotated[str, Query(pattern=REGION, description="the issuing partner city")],
                              holder_consent: HolderConsent = None) -> PartnerLicencePage:
    """My licences issued by a partner city (citizens: by resident ID; company users: their
    company's), asked of the partner over the signed exchange under the consent I gave in this
    city's app (`X-Holder-Consent`); no field values."""
    return await service.list_partner_licences(session, request.app.state.partner_client, holder, partner, page,
                                               holder_consent, request.app.state.settings.region_code)


@router.post("/partner-licences/{partner}/{licence}/presentations", status_code=201,
             response_model=PartnerPresentationRead,
             responses=responses(*PARTNER_ERRORS, LicenceNotFound, NotPresentable, InvalidField, IdempotencyKeyReused))
async def present_my_partner_licence(partner: Annotated[str, Path(pattern=REGION)],
                                     licence: Annotated[str, Path(min_length=1, max_length=80,
                                                                  pattern=r"^[0-9A-Za-z.\-]+$")],
                                     body: PartnerPresentationCreate, request: Request, session: SessionDep,
                                     holder: Presenter, idem: IdempotencyDep, holder_consent: HolderConsent = None):
    """Show one of my partner-city licences (亮证), under the consent I gave in this city's app
    (`X-Holder-Consent`): the partner makes the signed, short-lived presentation; its QR payload
    verifies here once the partner's issuer keys are trusted."""
    if (replay := await idem.claim(session, holder.sub)) is not None:
        return replay
    made = await service.present_partner_licence(session, request.app.state.partner_client, holder, partner, licence,
                                                 body, request.headers.get("idempotency-key"), holder_consent,
                                                 request.app.state.settings.region_code)
    return await idem.remember(session, 201, made)
