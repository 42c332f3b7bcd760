from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from tongban.interop.exchange.client import PartnerRefused, PartnerUnavailable
from tongban.interop.exchange.guard import EXCHANGE_ERRORS, Exchange
from tongban.interop.exchange.service import Inbound
from tongban.interop.partner import service as partners
from tongban.interop.partner.errors import PartnerNotFound
from tongban.interop.trust import service
from tongban.interop.trust.schemas import IssuerKeysRead, PartnerVerificationCreate, VerificationAsk
from tongban.interop.policy import ERRORS as AUTH_ERRORS
from tongban.interop.policy import Caller
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.service_auth import UpstreamUnavailable

router = APIRouter(tags=["licence trust (深中互认)"])
Clerk = Caller("partner_verification.ask")


@router.get("/exchange/credential-keys", response_model=IssuerKeysRead,
            responses=responses(*EXCHANGE_ERRORS, UpstreamUnavailable))
async def our_issuer_keys(request: Request, _: Annotated[Inbound, Depends(Exchange("credentials.keys"))]
                          ) -> IssuerKeysRead:
    """`credentials.keys` (partners): our licence issuers' public keys, for the partner's trust list."""
    settings = request.app.state.settings
    return IssuerKeysRead(region_code=settings.region_code, name=settings.city_name,
                          keys=await service.our_issuer_keys(request.app.state.credentials),
                          status_list_url=settings.credentials_public_url + service.STATUS_LISTS)


@router.post("/exchange/verifications", responses=responses(*EXCHANGE_ERRORS, InvalidField, UpstreamUnavailable))
async def verify_for_partner(body: VerificationAsk, request: Request,
                             _: Annotated[Inbound, Depends(Exchange("credentials.verify"))]) -> dict[str, Any]:
    """`credentials.verify` (partners): verify a presentation of one of our licences; the answer is
    svc-credentials' verification result (valid / revoked / expired / ... and why)."""
    return await service.verify(request.app.state.credentials, body.presentation)


@router.post("/partner-verifications",
             responses=responses(*AUTH_ERRORS, PartnerNotFound, PartnerUnavailable, PartnerRefused))
async def ask_partner_to_verify(body: PartnerVerificationCreate, request: Request, session: SessionDep,
                                actor: Clerk) -> dict[str, Any]:
    """A clerk has a presentation of a partner city's licence: the partner verifies it (online,
    signed and logged). Offline verification works too once the partner's keys are trusted."""
    await partners.get(session, body.partner)
    answer = await request.app.state.partner_client.call(body.partner, "POST", "/api/v1/interop/exchange/verifications",
                                                         {"presentation": body.presentation})
    return dict(answer.body or {})
