from typing import Annotated

from fastapi import APIRouter, Query, Request

from tongban.interop.exchange.client import PartnerRefused, PartnerUnavailable
from tongban.interop.partner import service as partners
from tongban.interop.partner.errors import PartnerNotFound
from tongban.interop.partner_item import repository, service
from tongban.interop.partner_item.schemas import PartnerItemRead, SyncRead
from tongban.interop.policy import ERRORS as AUTH_ERRORS
from tongban.interop.policy import Caller, Public
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(tags=["partner items and sync"])
Admin = Caller("partner.sync")
Region = Annotated[str, Query(pattern=r"^\d{6}$")]


@router.get("/partner-items", response_model=Page[PartnerItemRead], dependencies=[Public("partner_item.read")])
async def list_partner_items(session: SessionDep, page: PageDep, partner: Region | None = None,
                             include_withdrawn: bool = False) -> Page[PartnerItemRead]:
    """Partner cities' cross-city items, as each partner lists them (public, like the catalogue):
    a counter here accepts cases for them and forwards them to that city."""
    return await paginate(session, repository.list_query(partner, include_withdrawn), page,
                          PartnerItemRead.model_validate)


@router.post("/partners/{region_code}/sync", response_model=list[SyncRead],
             responses=responses(*AUTH_ERRORS, PartnerNotFound, PartnerUnavailable, PartnerRefused))
async def sync_partner(region_code: str, request: Request, session: SessionDep, actor: Admin) -> list[SyncRead]:
    """Pull the partner's items and licence issuer keys now (admins; the worker does it periodically).
    Each kind answers whether it worked; a failed pull keeps the last good copy."""
    await partners.get(session, region_code)
    state = request.app.state
    await service.pull_items(state.sessionmaker, state.partner_client, region_code, actor)
    await service.pull_issuer_keys(state.sessionmaker, state.partner_client, state.credentials, region_code, actor,
                                   own_region=state.settings.region_code,
                                   allow_private_urls=state.settings.allow_private_partner_urls,
                                   url_bases=state.settings.partner_url_bases.get(region_code, []))
    return [SyncRead.model_validate(s) for s in await repository.syncs_of(session, region_code)]


@router.get("/partners/{region_code}/sync", response_model=list[SyncRead], responses=responses(*AUTH_ERRORS))
async def sync_status(region_code: str, session: SessionDep, _: Admin) -> list[SyncRead]:
    """When each kind was last pulled from the partner, and whether it worked (admins)."""
    return [SyncRead.model_validate(s) for s in await repository.syncs_of(session, region_code)]
