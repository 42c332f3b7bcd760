from typing import Annotated

from fastapi import APIRouter, Query, Request

from tongban.interop.partner import repository, service
from tongban.interop.partner.errors import (
    KeyExists, OwnRegion, PartnerExists, PartnerKeyNotFound, PartnerNotFound,
)
from tongban.interop.partner.schemas import PartnerCreate, PartnerKeyCreate, PartnerRead, PartnerUpdate
from tongban.interop.policy import ERRORS as AUTH_ERRORS
from tongban.interop.policy import Caller
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/partners", tags=["partners"])
InteropAdmin = Caller("partner.manage")
PartnerReader = Caller("partner.read")


@router.post("", status_code=201, response_model=PartnerRead,
             responses=responses(*AUTH_ERRORS, PartnerExists, OwnRegion, InvalidField, IdempotencyKeyReused))
async def register_partner(body: PartnerCreate, request: Request, session: SessionDep, actor: InteropAdmin,
                           idem: IdempotencyDep):
    """Register a partner city with its public keys, granted services and items (admins)."""
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    settings = request.app.state.settings
    partner = await service.register(session, body, settings.region_code, actor, settings.allow_private_partner_urls)
    return await idem.remember(session, 201, await service.read(session, partner))


@router.get("", response_model=Page[PartnerRead], responses=responses(*AUTH_ERRORS))
async def list_partners(session: SessionDep, page: PageDep, _: PartnerReader,
                        status: Annotated[str | None, Query(pattern="^(active|suspended)$")] = None) -> Page[PartnerRead]:
    """Registered partner cities (admins)."""
    result = await paginate(session, repository.list_query(status), page)
    return Page[PartnerRead](items=[await service.read(session, p) for p in result.items], total=result.total,
                             limit=result.limit, offset=result.offset, next_offset=result.next_offset)


@router.get("/{region_code}", response_model=PartnerRead, responses=responses(*AUTH_ERRORS, PartnerNotFound))
async def get_partner(region_code: str, session: SessionDep, _: PartnerReader) -> PartnerRead:
    """One partner city with its keys (admins)."""
    return await service.read(session, await service.get(session, region_code))


@router.patch("/{region_code}", response_model=PartnerRead, responses=responses(*AUTH_ERRORS, PartnerNotFound))
async def update_partner(region_code: str, body: PartnerUpdate, request: Request, session: SessionDep,
                         actor: InteropAdmin) -> PartnerRead:
    """Change a partner's address, grants or contacts, or suspend it (admins; `reason` is audited)."""
    allow = request.app.state.settings.allow_private_partner_urls
    return await service.read(session, await service.update(session, region_code, body, actor, allow))


@router.post("/{region_code}/keys", status_code=201, response_model=PartnerRead,
             responses=responses(*AUTH_ERRORS, PartnerNotFound, KeyExists, InvalidField))
async def add_partner_key(region_code: str, body: PartnerKeyCreate, session: SessionDep,
                          actor: InteropAdmin) -> PartnerRead:
    """Register another public key of a partner (admins). Idempotent by nature: a second call with
    the same kid is a 409 and changes nothing."""
    return await service.read(session, await service.add_key(session, region_code, body, actor))


@router.delete("/{region_code}/keys/{kid}", response_model=PartnerRead,
               responses=responses(*AUTH_ERRORS, PartnerNotFound, PartnerKeyNotFound))
async def revoke_partner_key(region_code: str, kid: str, session: SessionDep, actor: InteropAdmin,
                             reason: Annotated[str, Query(min_length=1, max_length=500)]) -> PartnerRead:
    """Revoke one of a partner's keys (admins; `reason` is audited)."""
    return await service.read(session, await service.revoke_key(session, region_code, kid, reason, actor))
