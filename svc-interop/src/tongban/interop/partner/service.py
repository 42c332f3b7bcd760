"""The partner registry: who may call us, with which keys, for which services and items."""

from __future__ import annotations


from sqlalchemy.ext.asyncio import AsyncSession
from tongban.interop.db import audit, outbox
from tongban.interop.partner import repository, urls
from tongban.interop.partner.errors import KeyExists, OwnRegion, PartnerExists, PartnerKeyNotFound, PartnerNotFound
from tongban.interop.partner.models import Partner, PartnerKey
from tongban.interop.partner.schemas import PartnerCreate, PartnerKeyCreate, PartnerKeyRead, PartnerRead, PartnerUpdate
from tongban.shared import clock
from tongban.shared.auth import Principal
from tongban.shared.contracts.interop import PARTNER_REGISTERED, PARTNER_UPDATED, PartnerChangedV1
from tongban.shared.errors import InvalidField
from tongban.shared.events.envelope import make_event


def _check_key(body: PartnerKeyCreate, field: str) -> None:
    try:
        body.public_key()
    except ValueError as exc:
        raise InvalidField(field, f"not an Ed25519 public key: {exc}") from exc


async def read(session: AsyncSession, partner: Partner) -> PartnerRead:
    """The partner with its keys."""
    keys = await repository.keys_of(session, partner.region_code)
    out = PartnerRead.model_validate(partner)
    out.keys = [PartnerKeyRead.model_validate(k) for k in keys]
    return out


async def _announce(session: AsyncSession, partner: Partner, event_type: str) -> None:
    kids = [k.kid for k in await repository.active_keys(session, partner.region_code)]
    data = PartnerChangedV1(region_code=partner.region_code, name=partner.name, status=partner.status,
                            services=list(partner.services), items=list(partner.items), kids=kids)
    await outbox.add(session, make_event("interop", event_type, data, subject=partner.region_code))


async def register(session: AsyncSession, body: PartnerCreate, own_region: str, actor: Principal,
                   allow_private_urls: bool = False) -> Partner:
    """Register a partner city with its first keys."""
    if body.region_code == own_region:
        raise OwnRegion(body.region_code)
    urls.check_registered("base_url", body.base_url, allow_private_urls)
    urls.check_registered("token_url", body.token_url, allow_private_urls)
    if await repository.get(session, body.region_code) is not None:
        raise PartnerExists(f"{body.region_code} is already registered")
    for i, key in enumerate(body.keys):
        _check_key(key, f"keys.{i}.x")
    if len({k.kid for k in body.keys}) != len(body.keys):
        raise InvalidField("keys", "two keys have the same kid")
    partner = Partner(region_code=body.region_code, name=body.name, base_url=body.base_url.rstrip("/"),
                      token_url=body.token_url, client_id=body.client_id, services=list(body.services),
                      items=list(body.items), contacts=[c.model_dump() for c in body.contacts], status="active",
                      created_by=actor.sub)
    await repository.add(session, partner)
    await repository.add(session, *[PartnerKey(region_code=partner.region_code, kid=k.kid, public_key=k.x, note=k.note)
                                    for k in body.keys])
    await audit.record(session, actor, "partner.registered", "partner", partner.region_code,
                       detail={"services": partner.services, "kids": [k.kid for k in body.keys]})
    await _announce(session, partner, PARTNER_REGISTERED)
    return partner


async def get(session: AsyncSession, region_code: str, for_update: bool = False) -> Partner:
    partner = await repository.get(session, region_code, for_update)
    if partner is None:
        raise PartnerNotFound(f"{region_code} is not a registered partner")
    return partner


async def update(session: AsyncSession, region_code: str, body: PartnerUpdate, actor: Principal,
                 allow_private_urls: bool = False) -> Partner:
    """Change what a partner may call, where it lives, or suspend it."""
    partner = await get(session, region_code, for_update=True)
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    for field in ("base_url", "token_url"):
        urls.check_registered(field, changes.get(field), allow_private_urls)
    for field, value in changes.items():
        if field == "base_url":
            value = value.rstrip("/")
        setattr(partner, field, list(value) if isinstance(value, list) else value)
    partner.updated_at = clock.now()
    await session.flush()
    await audit.record(session, actor, "partner.updated", "partner", region_code, reason=body.reason,
                       detail={"fields": sorted(changes)})
    await _announce(session, partner, PARTNER_UPDATED)
    return partner


async def add_key(session: AsyncSession, region_code: str, body: PartnerKeyCreate, actor: Principal) -> Partner:
    """Register another public key of the partner (key rotation on their side)."""
    partner = await get(session, region_code, for_update=True)
    _check_key(body, "x")
    if await repository.get_key(session, region_code, body.kid) is not None:
        raise KeyExists(f"{region_code} already has a key {body.kid}")
    await repository.add(session, PartnerKey(region_code=region_code, kid=body.kid, public_key=body.x, note=body.note))
    partner.updated_at = clock.now()
    await audit.record(session, actor, "partner.key_added", "partner", region_code, detail={"kid": body.kid})
    await _announce(session, partner, PARTNER_UPDATED)
    return partner


async def revoke_key(session: AsyncSession, region_code: str, kid: str, reason: str, actor: Principal) -> Partner:
    """Stop trusting one of the partner's keys; messages signed with it are refused from now on."""
    partner = await get(session, region_code, for_update=True)
    key = await repository.get_key(session, region_code, kid)
    if key is None or key.revoked_at is not None:
        raise PartnerKeyNotFound(f"{region_code} has no active key {kid}")
    await repository.revoke_key(key)
    partner.updated_at = clock.now()
    await session.flush()
    await audit.record(session, actor, "partner.key_revoked", "partner", region_code, reason=reason,
                       detail={"kid": kid})
    await _announce(session, partner, PARTNER_UPDATED)
    return partner
