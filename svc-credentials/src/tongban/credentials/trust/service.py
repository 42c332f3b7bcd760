"""Mutual recognition (深中互认): the partner cities' issuer keys we trust, and which of their
licence types stand for ours.

svc-interop keeps a partner's entry current: it pulls the partner's published issuer keys and
PUTs them here (scope `credentials:trust`; admins may too). A PUT replaces the region's key set:
new kids are added, kids no longer listed are retired (kept: they verify what they signed
before), and a kid never changes its key. A PUT that changes nothing changes nothing (and is
not audited), so the periodic sync may repeat it freely.
"""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from tongban.credentials.db import audit
from tongban.credentials.signing import algorithms
from tongban.credentials.signing import repository as own_keys
from tongban.credentials.trust import repository
from tongban.credentials.trust.errors import MappingExists, MappingNotFound
from tongban.credentials.trust.models import LicenceTypeMapping, TrustedKey, TrustedRegion
from tongban.credentials.trust.schemas import (
    MappingCreate,
    MappingRead,
    Satisfaction,
    TrustedIssuersPut,
    TrustedKeyRead,
    TrustedRegionRead,
)
from tongban.shared import clock
from tongban.shared.auth import InsufficientScope, Principal
from tongban.shared.errors import InvalidField

TRUST_SCOPES = ("credentials:trust", "credentials:admin")


def issuer_in_region(issuer_code: str, region_code: str) -> bool:
    """Characters 3-8 of a unified social credit code (GB 32100) name the region of its
    registration authority; a city's code (440300) covers its districts (4403xx)."""
    prefix = region_code
    while prefix.endswith("00") and len(prefix) > 2:
        prefix = prefix[:-2]
    return issuer_code[2:8].startswith(prefix)


def ensure_trust_manager(principal: Principal) -> None:
    if not any(principal.has(s) for s in TRUST_SCOPES):
        raise InsufficientScope("needs credentials:trust or credentials:admin")


def to_read(region: TrustedRegion, keys: list[TrustedKey]) -> TrustedRegionRead:
    return TrustedRegionRead(
        region_code=region.region_code, name=region.name, status_list_url=region.status_list_url,
        updated_by=region.updated_by,
        created_at=region.created_at, updated_at=region.updated_at,
        keys=[TrustedKeyRead(kid=k.kid, issuer_code=k.issuer_code, algorithm=k.algorithm,
                             public_key=algorithms.b64u(k.public_key), status=k.status,  # type: ignore[arg-type]
                             created_at=k.created_at, retired_at=k.retired_at) for k in keys])


async def put_region(session: AsyncSession, region_code: str, data: TrustedIssuersPut,
                     actor: Principal) -> TrustedRegionRead:
    """Replace a partner region's trusted key set (see the module docstring)."""
    ensure_trust_manager(actor)
    region, created = await repository.lock_region(session, region_code, data.name, actor.sub)
    kids = [k.kid for k in data.keys]
    known = await repository.keys_by_kid(session, kids)
    now = clock.now()
    added, retired, reactivated = [], [], []
    for i, key in enumerate(data.keys):
        if await own_keys.get_key(session, key.kid) is not None:
            raise InvalidField(f"keys[{i}].kid", "is one of our own issuers' keys")
        # A partner vouches for its own region's issuers only (svc-interop, which knows our
        # region, also refuses keys claiming issuers of ours).
        if not issuer_in_region(key.issuer_code, region_code):
            raise InvalidField(f"keys[{i}].issuer_code", f"is not an issuer registered in {region_code}")
        old = known.get(key.kid)
        if old is None:
            await repository.add(session, TrustedKey(
                kid=key.kid, region_code=region_code, issuer_code=key.issuer_code, algorithm=key.algorithm,
                public_key=key.raw, status=key.status, retired_at=now if key.status == "retired" else None))
            added.append(key.kid)
            continue
        if old.region_code != region_code:
            raise InvalidField(f"keys[{i}].kid", f"belongs to region {old.region_code}")
        if (old.public_key, old.algorithm, old.issuer_code) != (key.raw, key.algorithm, key.issuer_code):
            raise InvalidField(f"keys[{i}]", "a kid never changes its key or issuer: "
                                             "publish the new key under a new kid")
        if old.status != key.status:
            old.status, old.retired_at = key.status, (now if key.status == "retired" else None)
            (retired if key.status == "retired" else reactivated).append(key.kid)
    listed = set(kids)
    for old in await repository.keys_of(session, [region_code]):
        if old.kid not in listed and old.status == "active":
            old.status, old.retired_at = "retired", now
            retired.append(old.kid)
    renamed = region.name != data.name
    # Left out, the status-list URL stays: a sync that does not know it must not erase it.
    relocated = "status_list_url" in data.model_fields_set and region.status_list_url != data.status_list_url
    if created or renamed or relocated or added or retired or reactivated:
        region.name, region.updated_by, region.updated_at = data.name, actor.sub, now
        if relocated:
            region.status_list_url = data.status_list_url
        await session.flush()
        await audit.record(session, actor, "trust.updated", "trusted_region", region_code,
                           detail={"name": data.name, "added": added, "retired": retired,
                                   "reactivated": reactivated, "status_list_url": region.status_list_url})
    await session.refresh(region)
    return to_read(region, await repository.keys_of(session, [region_code]))


async def regions_page(session: AsyncSession, regions: list[TrustedRegion]) -> list[TrustedRegionRead]:
    """The regions of one page, each with its keys (one query for all the keys)."""
    keys = await repository.keys_of(session, [r.region_code for r in regions])
    return [to_read(r, [k for k in keys if k.region_code == r.region_code]) for r in regions]


async def trusted_public_key(session: AsyncSession, kid: str) -> tuple[TrustedKey, TrustedRegion] | None:
    """A partner issuer key (active or retired) and its region, for verifying their licences."""
    key = await repository.get_key(session, kid)
    if key is None:
        return None
    region = await repository.get_region(session, key.region_code)
    assert region is not None  # a foreign key
    return key, region


async def recognised_as(session: AsyncSession, region_code: str, partner_type_code: str) -> list[str]:
    """Our licence types a partner's licence type stands for."""
    return await repository.our_types_for(session, region_code, partner_type_code)


async def add_mapping(session: AsyncSession, data: MappingCreate, actor: Principal) -> LicenceTypeMapping:
    mapping = LicenceTypeMapping(id=uuid.uuid4(), region_code=data.region_code,
                                 partner_type_code=data.partner_type_code, partner_type_name=data.partner_type_name,
                                 our_type_code=data.our_type_code, note=data.note, created_by=actor.sub)
    try:
        async with session.begin_nested():
            await repository.add(session, mapping)
    except IntegrityError:
        raise MappingExists(f"{data.region_code} {data.partner_type_code} → {data.our_type_code} exists") from None
    await audit.record(session, actor, "licence_type_mapping.added", "licence_type_mapping", str(mapping.id),
                       detail={"region_code": data.region_code, "partner_type_code": data.partner_type_code,
                               "our_type_code": data.our_type_code})
    return mapping


async def delete_mapping(session: AsyncSession, mapping_id: uuid.UUID, actor: Principal) -> None:
    mapping = await repository.delete_mapping(session, mapping_id)
    if mapping is None:
        raise MappingNotFound()
    await audit.record(session, actor, "licence_type_mapping.deleted", "licence_type_mapping", str(mapping_id),
                       detail={"region_code": mapping.region_code, "partner_type_code": mapping.partner_type_code,
                               "our_type_code": mapping.our_type_code})


async def satisfies(session: AsyncSession, type_code: str, required: str, region_code: str | None) -> Satisfaction:
    """Does a licence of `type_code` (ours, or a partner city's) satisfy a material asking for our
    `required` type? The same type does; a partner type does when a mapping says so."""
    if type_code == required:
        return Satisfaction(type_code=type_code, required_type_code=required, satisfies=True, reason="the same type")
    mapping = await repository.find_mapping(session, type_code, required, region_code)
    if mapping is None:
        return Satisfaction(type_code=type_code, required_type_code=required, satisfies=False,
                            reason="no mapping makes this type stand for the required one")
    return Satisfaction(type_code=type_code, required_type_code=required, satisfies=True,
                        reason=f"mutual recognition with {mapping.region_code}: {mapping.partner_type_name}",
                        via=MappingRead.model_validate(mapping))


async def region(session: AsyncSession, region_code: str) -> TrustedRegion | None:
    return await repository.get_region(session, region_code)
