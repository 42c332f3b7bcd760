from typing import Annotated

from fastapi import APIRouter, Depends, Request

from tongban.interop.discovery import repository
from tongban.interop.discovery.schemas import CrossCityItemRead, DiscoveryRead, ServiceEndpoint
from tongban.interop.exchange.guard import EXCHANGE_ERRORS, Exchange
from tongban.interop.exchange.service import Inbound
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/exchange", tags=["exchange"])
PREFIX = "/api/v1/interop"
ENDPOINTS = {
    "discovery": [("GET", "/exchange/services", "this list"), ("GET", "/exchange/items", "our cross-city items")],
    "case.forward": [("POST", "/exchange/cases", "forward a case for one of our items; 202 with our case number")],
    "case.status": [("POST", "/exchange/case-status", "report a status change of a case we forwarded to you")],
    "credentials.keys": [("GET", "/exchange/credential-keys", "our licence issuers' public keys")],
    "credentials.verify": [("POST", "/exchange/verifications", "verify a presentation of one of our licences")],
    "hotline.refer": [("POST", "/exchange/referrals", "refer a 12345 ticket that belongs to us; 202 with our number")],
    "hotline.status": [("POST", "/exchange/referral-status",
                        "report what your hotline did with a ticket we referred (replied, closed, reopened)")],
    "company.migrate": [("POST", "/exchange/company-migrations",
                         "a company moving here from your city (企业迁移); 202 with our migration-in case number")],
    "credentials.present": [("POST", "/exchange/holder-licences",
                             "a resident's licences issued here (signed body: holder_id; no field values)"),
                            ("POST", "/exchange/presentations",
                             "a presentation (亮证) of one of the resident's licences issued here; 201 with its QR")],
}
Discovering = Annotated[Inbound, Depends(Exchange("discovery"))]


@router.get("/services", response_model=DiscoveryRead, responses=responses(*EXCHANGE_ERRORS))
async def list_services(request: Request, inbound: Discovering) -> DiscoveryRead:
    """The services the calling partner was granted, with the OpenAPI that describes them (partners)."""
    settings = request.app.state.settings
    services = [ServiceEndpoint(name=name, method=m, path=PREFIX + p, description=d)
                for name in inbound.partner.services for m, p, d in ENDPOINTS.get(name, [])]
    return DiscoveryRead(region_code=settings.region_code, name=settings.city_name,
                         partner=inbound.partner.region_code, services=services,
                         openapi_url=f"{settings.public_url}{PREFIX}/openapi.json",
                         identity_url=f"{settings.public_url}{PREFIX}/identity",
                         signature_profile="RFC 9421 ed25519 + RFC 9530 sha-256; see svc-interop/README.md")


@router.get("/items", response_model=Page[CrossCityItemRead], responses=responses(*EXCHANGE_ERRORS))
async def list_items(session: SessionDep, page: PageDep, inbound: Discovering) -> Page[CrossCityItemRead]:
    """Our cross-city items the calling partner may forward cases for (partners)."""
    return await paginate(session, repository.offered_query(list(inbound.partner.items)), page,
                          CrossCityItemRead.model_validate)
