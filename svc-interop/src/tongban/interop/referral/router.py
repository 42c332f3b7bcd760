import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from tongban.interop.exchange.guard import EXCHANGE_ERRORS, Exchange
from tongban.interop.exchange.service import Inbound
from tongban.interop.partner.errors import PartnerNotFound
from tongban.interop.referral import repository, service
from tongban.interop.referral.errors import ReferralNotFound
from tongban.interop.referral.models import Referral
from tongban.interop.referral.schemas import (
    HotlineReferral, ReferralAck, ReferralCreate, ReferralRead, ReferralStatusAck, ReferralStatusChange,
)
from tongban.interop.policy import ERRORS as AUTH_ERRORS
from tongban.interop.policy import POLICY, Caller
from tongban.shared.auth import Principal
from tongban.shared.ids import mask_phone
from tongban.shared.policy import allows
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(tags=["hotline referrals"])
Clerk = Caller("referral.create")
Reader = Caller("referral.read")


def _shown(referral: Referral, viewer: Principal) -> ReferralRead:
    """The referral; its hotline caller's name and phone only for staff in scope (`referral.caller`:
    the clerk who referred it, admins, auditors), masked for everyone else."""
    out = ReferralRead.model_validate(referral)
    in_scope = allows(POLICY, "referral.caller", viewer) and (
        viewer.role != "clerk" or (referral.direction == "outbound" and referral.created_by == viewer.sub))
    caller = out.payload.get("caller")
    if not in_scope and isinstance(caller, dict):
        name, phone = str(caller.get("name") or ""), caller.get("phone")
        out.payload = {**out.payload, "caller": {"name": name[:1] + "*" * max(len(name) - 1, 0),
                                                 "phone": mask_phone(phone) if phone else None}}
    return out


@router.post("/referrals", status_code=201, response_model=ReferralRead,
             responses=responses(*AUTH_ERRORS, PartnerNotFound, IdempotencyKeyReused))
async def refer_ticket(body: ReferralCreate, request: Request, session: SessionDep, actor: Clerk,
                       idem: IdempotencyDep):
    """Refer a 12345 hotline ticket to the partner city it belongs to (staff); the partner's
    reference number arrives when it takes the referral (`status` accepted_by_partner)."""
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    referral = await service.refer(session, body, request.app.state.settings.region_code, actor)
    return await idem.remember(session, 201, _shown(referral, actor))


@router.get("/referrals", response_model=Page[ReferralRead], responses=responses(*AUTH_ERRORS))
async def list_referrals(session: SessionDep, page: PageDep, viewer: Reader,
                         direction: Annotated[str | None, Query(pattern="^(inbound|outbound)$")] = None,
                         partner: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None) -> Page[ReferralRead]:
    """Referrals sent to and received from partner cities, newest first (staff)."""
    return await paginate(session, repository.list_query(direction, partner), page, lambda r: _shown(r, viewer))


@router.get("/referrals/{referral_id}", response_model=ReferralRead, responses=responses(*AUTH_ERRORS,
                                                                                        ReferralNotFound))
async def get_referral(referral_id: uuid.UUID, session: SessionDep, viewer: Reader) -> ReferralRead:
    referral = await repository.get(session, referral_id)
    if referral is None:
        raise ReferralNotFound()
    return _shown(referral, viewer)


@router.post("/exchange/referrals", status_code=202, response_model=ReferralAck,
             responses=responses(*EXCHANGE_ERRORS, IdempotencyKeyReused))
async def receive_referral(body: HotlineReferral, request: Request, session: SessionDep,
                           inbound: Annotated[Inbound, Depends(Exchange("hotline.refer"))], idem: IdempotencyDep):
    """`hotline.refer` (partners): a 12345 ticket of the partner's that belongs to us; 202 with our number."""
    if (replay := await idem.claim(session, inbound.owner)) is not None:
        return replay
    ack = await service.receive(session, inbound, body, request.app.state.settings.region_code)
    return await idem.remember(session, 202, ack)


@router.post("/exchange/referral-status", response_model=ReferralStatusAck,
             responses=responses(*EXCHANGE_ERRORS, ReferralNotFound, IdempotencyKeyReused))
async def receive_referral_status(body: ReferralStatusChange, session: SessionDep,
                                  inbound: Annotated[Inbound, Depends(Exchange("hotline.status"))],
                                  idem: IdempotencyDep):
    """`hotline.status` (partners): what the partner's hotline did with a ticket we referred
    (replied with its reply, closed, reopened)."""
    if (replay := await idem.claim(session, inbound.owner)) is not None:
        return replay
    return await idem.remember(session, 200, await service.apply_partner_status(session, inbound, body))
