"""Use with consent (用证): a department reads a holder's licence for a case only under the
holder's consent (licence type, case, expiry, optionally one department) and with a stated
purpose. Every use and every refused use is logged (who, department, case, purpose, when),
never the attribute values; holders read their own log."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from tongban.credentials.consent import repository
from tongban.credentials.consent.errors import ConsentNotFound, ConsentRevoked, NoDepartment, NotAtCounter
from tongban.credentials.consent.models import Consent, LicenceUse
from tongban.credentials.consent.schemas import ConsentCreate, LicenceUseCreate
from tongban.credentials.db import audit
from tongban.credentials.licence import service as licence_rules
from tongban.credentials.licence.models import Licence
from tongban.credentials.licence_type import repository as types
from tongban.credentials.licence_type.errors import LicenceTypeNotFound
from tongban.shared import clock
from tongban.shared.auth import NotOwner, Principal
from tongban.shared.errors import InvalidField
from tongban.shared.ids import InvalidIdentifier, mask_resident_id, normalize_credit_code, normalize_resident_id


def holder_of(principal: Principal) -> tuple[str, str]:
    """(holder type, holder id) of a citizen or company caller."""
    if principal.id_number:
        return "111", principal.id_number
    if principal.credit_code:
        return "001", principal.credit_code
    raise NotOwner("only citizens and company users hold licences")


def _walk_in_holder(holder_id: str | None) -> tuple[str, str]:
    """(holder type, holder id) of the applicant a clerk names: a resident ID number or a credit code."""
    if not holder_id:
        raise InvalidField("holder_id", "a clerk names the applicant (resident ID number or credit code)")
    try:
        return "111", normalize_resident_id(holder_id)
    except InvalidIdentifier:
        pass
    try:
        return "001", normalize_credit_code(holder_id)
    except InvalidIdentifier:
        raise InvalidField("holder_id", "neither a resident ID number (GB 11643) nor a credit code (GB 32100) "
                                        "with a right check character") from None


async def give(session: AsyncSession, data: ConsentCreate, giver: Principal) -> Consent:
    """Record a holder's consent: their own (citizen, company user), or a walk-in applicant's
    given at a counter, witnessed by the clerk (role clerk, at their hall and counter)."""
    witness: dict[str, str | None] = {}
    if giver.role == "clerk":
        if not giver.hall:
            raise NotAtCounter("a counter consent is taken by a clerk of a hall (the token names none)")
        holder_type, holder_id = _walk_in_holder(data.holder_id)
        counter = giver.claims.get("counter")
        witness = {"witnessed_by": giver.sub, "witness_name": (giver.name or "")[:200] or None,
                   "witness_hall": giver.hall[:64], "witness_counter": str(counter)[:64] if counter else None}
    else:
        holder_type, holder_id = holder_of(giver)
        if data.holder_id is not None and data.holder_id.strip().upper() != holder_id:
            raise NotOwner("you consent for yourself only")
    consent = Consent(id=uuid.uuid4(), holder_type=holder_type, holder_id=holder_id,
                      licence_type_code=data.licence_type_code, case_id=data.case_id, department=data.department,
                      expires_at=data.expires_at, **witness)
    await repository.add(session, consent)
    detail = {"licence_type_code": data.licence_type_code, "case_id": str(data.case_id)}
    if witness:
        detail |= {"holder": mask_resident_id(holder_id) if holder_type == "111" else holder_id,
                   "hall": witness["witness_hall"], "counter": witness["witness_counter"]}
    await audit.record(session, giver, "consent.given_at_counter" if witness else "consent.given", "consent",
                       str(consent.id), detail=detail)
    return consent


async def withdraw(session: AsyncSession, consent_id: uuid.UUID, holder: Principal) -> Consent:
    """The holder withdraws a consent; later uses under it are refused."""
    consent = await repository.get(session, consent_id)
    if consent is None:
        raise ConsentNotFound()
    if holder_of(holder)[1] != consent.holder_id:
        raise NotOwner()
    if consent.revoked_at is not None:
        raise ConsentRevoked()
    consent.revoked_at = clock.now()
    await session.flush()
    await audit.record(session, holder, "consent.withdrawn", "consent", str(consent.id))
    return consent


def _refusal(consents: list[Consent], department: str, now: dt.datetime) -> tuple[str | None, Consent | None]:
    if not consents:
        return "no_consent", None
    usable = [c for c in consents if c.revoked_at is None]
    if not usable:
        return "consent_withdrawn", None
    usable = [c for c in usable if c.department in (None, department)]
    if not usable:
        return "other_department", None
    current = [c for c in usable if c.expires_at > now]
    if not current:
        return "consent_expired", None
    return None, current[0]


async def use(session: AsyncSession, data: LicenceUseCreate, actor: Principal) -> tuple[LicenceUse, Licence | None]:
    """Read a licence under consent. Returns the log row and the licence (None when refused:
    the caller must still commit, so the refusal stays logged)."""
    department = actor.department
    if actor.role == "service":
        # Our own services call as themselves, for the department handling the case.
        department = data.department
    elif data.department is not None and data.department != actor.department:
        raise InvalidField("department", "staff use licences for their own department only")
    if not department:
        raise NoDepartment("name the department (services) or call as a department's staff")
    licence_type = await types.get(session, data.licence_type_code)
    if licence_type is None:
        raise LicenceTypeNotFound(f"no licence type {data.licence_type_code}")
    holder_id = licence_rules.check_holder(licence_type.holder_type, data.holder_id)
    now = clock.now()
    refusal, consent = _refusal(await repository.consents_for(session, holder_id, data.licence_type_code,
                                                              data.case_id), department, now)
    licence = None
    if refusal is None:
        licence = await repository.current_licence(session, holder_id, data.licence_type_code, now.date())
        if licence is None:
            refusal = "no_valid_licence"
    row = LicenceUse(holder_id=holder_id, licence_type_code=data.licence_type_code,
                     licence_identifier=licence.identifier if licence else None, case_id=data.case_id,
                     consent_id=consent.id if consent else None, actor=actor.sub, department=department,
                     purpose=data.purpose, outcome="refused" if refusal else "granted", refusal=refusal, at=now)
    await repository.add(session, row)
    await audit.record(session, actor, "licence.used" if refusal is None else "licence.use_refused", "licence_use",
                       str(row.id), reason=data.purpose, detail={"case_id": str(data.case_id), "refusal": refusal})
    return row, licence
