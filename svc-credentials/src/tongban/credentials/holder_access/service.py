"""A holder's licences, listed and presented by one of our own services acting for the holder:
svc-interop, when the holder is in the partner city and asks through it (深中通办).

svc-interop is trusted to have authenticated the holder there (the partner city signed the
request, and its token names the resident); this service checks that the licence belongs to
the holder named, and records who asked: the service, the partner city and the masked holder.
A presentation is made by `presentation.service.create`, exactly as the holder's own would be.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from tongban.credentials.db import audit
from tongban.credentials.holder_access import consent, repository
from tongban.credentials.holder_access.errors import NotAServiceCaller
from tongban.credentials.holder_access.schemas import (
    HolderLicenceRead,
    HolderPresentationCreate,
    HolderPresentationRead,
)
from tongban.credentials.identifier import parse_identifier
from tongban.credentials.licence import repository as licences
from tongban.credentials.licence import service as licence_rules
from tongban.credentials.licence.errors import LicenceNotFound
from tongban.credentials.licence.models import Licence
from tongban.credentials.presentation import service as presentations
from tongban.credentials.presentation.schemas import PresentationCreate
from tongban.shared.auth import Principal
from tongban.shared.errors import InvalidField
from tongban.shared.ids import InvalidIdentifier, mask_resident_id, normalize_credit_code, normalize_resident_id
from tongban.shared.pagination import Page, PageParams, paginate

PERSON, COMPANY = "111", "001"


def holder_of(holder_id: str) -> tuple[str, str]:
    """(holder type, normalised id): a resident ID number (GB 11643) or a credit code (GB 32100)."""
    try:
        return PERSON, normalize_resident_id(holder_id)
    except InvalidIdentifier:
        pass
    try:
        return COMPANY, normalize_credit_code(holder_id)
    except InvalidIdentifier:
        raise InvalidField("holder_id", "neither a resident ID number nor a unified social credit code "
                                        "(check characters included)") from None


def acting_for(caller: Principal, partner: str | None, holder_type: str, holder_id: str) -> Principal:
    """The principal a presentation is made and audited under: the calling service, for the
    partner city, on behalf of the (masked) holder, owning what the holder owns and nothing more."""
    if caller.role != "service":
        raise NotAServiceCaller()
    who = f"{caller.sub} for {partner or '?'} on behalf of {mask_resident_id(holder_id)}"
    return Principal(sub=who[:200], role="service", scopes=frozenset(),
                     id_number=holder_id if holder_type == PERSON else None,
                     credit_code=holder_id if holder_type == COMPANY else None)


async def list_licences(session: AsyncSession, caller: Principal, holder_id: str, partner: str | None,
                        page: PageParams, consent_token: str | None, our_region: str) -> Page[HolderLicenceRead]:
    """The holder's current licences, newest first, without field values, under her signed consent
    for the partner city; the disclosure is audited (a list of someone's licences is personal data too)."""
    holder_type, holder = holder_of(holder_id)
    actor = acting_for(caller, partner, holder_type, holder)
    given = await consent.verify(session, consent_token, holder, partner, our_region)

    def read(row: Any) -> HolderLicenceRead:
        lic: Licence = row["Licence"]
        return HolderLicenceRead(
            id=str(lic.id), identifier=lic.identifier, type_code=lic.type_code, type_name=row["type_name"],
            issuer_code=lic.issuer_code, issuer_name=row["issuer_name"],
            holder_type=lic.holder_type, version=lic.version,  # type: ignore[arg-type]
            status=licence_rules.effective_status(lic),  # type: ignore[arg-type]
            valid_from=lic.valid_from, valid_until=lic.valid_until, issued_at=lic.issued_at)

    result = await paginate(session, repository.holder_listing(holder_type, holder), page, read, mappings=True)
    await audit.record(session, actor, "licence.listed_for_partner", "holder", mask_resident_id(holder),
                       reason=given["purpose"], detail={"partner": partner, "count": len(result.items),
                                                        "offset": page.offset, "consent": given["cid"]})
    return result


async def _licence(session: AsyncSession, ref: str) -> Licence | None:
    """A licence by its id (UUID) or its identifier (GB/T 36904)."""
    try:
        return await licences.get(session, uuid.UUID(ref))
    except ValueError:
        pass
    try:
        parse_identifier(ref, legacy=True)   # our own licences, found by the exact string below
    except InvalidIdentifier as exc:
        raise InvalidField("licence", f"neither a licence id nor a licence identifier: {exc}") from None
    return await licences.get_by_identifier(session, ref)


async def present(session: AsyncSession, caller: Principal, holder_id: str, ref: str,
                  data: HolderPresentationCreate, ttl_seconds: int, consent_token: str | None,
                  our_region: str) -> HolderPresentationRead:
    """A presentation of the holder's licence, made as the holder's own would be (signed by the
    issuer's key, short-lived), for the partner city that asked. Someone else's licence, or none,
    is 404 alike: the caller learns nothing about licences that are not the holder's."""
    holder_type, holder = holder_of(holder_id)
    actor = acting_for(caller, data.partner, holder_type, holder)
    given = await consent.verify(session, consent_token, holder, data.partner, our_region)
    licence = await _licence(session, ref)
    if licence is None or licence.holder_type != holder_type or licence.holder_id != holder:
        raise LicenceNotFound()
    row, qr = await presentations.create(session, licence.id,
                                         PresentationCreate(fields=data.fields, single_use=data.single_use),
                                         actor, ttl_seconds)
    await audit.record(session, actor, "presentation.created_for_partner", "licence", str(licence.id),
                       reason=data.purpose, detail={"presentation": row.id, "partner": data.partner,
                                                    "service": caller.sub, "consent": given["cid"]})
    return HolderPresentationRead(id=row.id, qr=qr, expires_at=row.expires_at, fields=row.fields,
                                  licence_id=str(licence.id), identifier=licence.identifier,
                                  type_code=licence.type_code, issuer_code=licence.issuer_code)
