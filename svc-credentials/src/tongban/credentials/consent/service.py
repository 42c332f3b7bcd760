"""Use with consent (用证): a department reads a holder's licence for a case only under the
holder's consent (licence type, case, department, expiry) and with a stated purpose. Every use
and every refused use is logged (who, for whom, department, case, purpose, when), never the
attribute values; holders read their own log.

A consent is bound to one case and that case's department. One taken at a counter names a case
svc-cases knows, handled at the clerk's hall, whose applicant is the holder; its department is
the case's. An agent gives consent for its principal under a delegation granting `consent.give`,
and the consent names both."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from tongban.credentials.cases_client import CasesClient
from tongban.credentials.consent import repository
from tongban.credentials.consent.errors import (
    ConsentNotFound,
    ConsentRevoked,
    NoDepartment,
    NotAtCounter,
    UnknownCase,
)
from tongban.credentials.consent.models import Consent, LicenceUse
from tongban.credentials.consent.schemas import ConsentCreate, LicenceUseCreate
from tongban.credentials.db import audit
from tongban.credentials.licence import service as licence_rules
from tongban.credentials.licence.models import Licence
from tongban.credentials.licence_type import repository as types
from tongban.credentials.licence_type.errors import LicenceTypeNotFound
from tongban.shared import clock
from tongban.shared.auth import NotOwner, OutsideScope, Principal
from tongban.shared.errors import InvalidField
from tongban.shared.ids import InvalidIdentifier, mask_resident_id, normalize_credit_code, normalize_resident_id
from tongban.shared.policy import Access, Target


def _holder_type(holder_id: str) -> str:
    return "111" if len(holder_id) == 18 and holder_id[:17].isdigit() else "001"


def holder_of(principal: Principal, named: str | None = None) -> tuple[str, str]:
    """(holder type, holder id) of a citizen or company caller, or of the principal an agent acts
    for when the request names that principal (`named`)."""
    agent_for = principal.agent_for
    if named is not None and agent_for is not None and named.strip().upper() == agent_for.id:
        return _holder_type(agent_for.id), agent_for.id
    if principal.role == "citizen" and principal.id_number:
        return "111", principal.id_number
    if principal.role == "company" and principal.credit_code:
        return "001", principal.credit_code
    raise NotOwner("only citizens and company users hold licences")


def holder_record(holder_type: str, holder_id: str) -> Target:
    """What the policy sees of a record keyed by a holder (a resident or a company)."""
    return Target(owner=holder_id)


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


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def give(session: AsyncSession, data: ConsentCreate, access: Access, cases: CasesClient) -> Consent:
    """Record a holder's consent: their own (citizen, company representative), their principal's
    (an agent under a delegation), or a walk-in applicant's given at a counter, witnessed by the
    clerk, for a case of the clerk's hall (its department is the case's)."""
    giver = access.principal
    witness: dict[str, str | None] = {}
    department = data.department
    agency = None
    if giver.role == "clerk":
        if not giver.hall and not giver.claims.get("halls"):
            raise NotAtCounter("a counter consent is taken by a clerk of a hall (the token names none)")
        holder_type, holder_id = _walk_in_holder(data.holder_id)
        case = await cases.case(data.case_id)
        if case is None:
            raise UnknownCase(f"svc-cases knows no case {data.case_id}: a consent is bound to an existing case")
        access.check(Target(owner=holder_id, hall=case.hall, department=case.department))
        if case.hall is None or case.hall not in giver.halls:
            raise OutsideScope("a counter consent is taken for a case of your own hall")
        if case.applicant_id is not None and case.applicant_id.upper() not in (holder_id, mask_resident_id(holder_id)):
            raise UnknownCase("the case is not this applicant's")
        if department is not None and department != case.department:
            raise InvalidField("department", f"the case is handled by {case.department}")
        department = case.department
        counter = giver.claims.get("counter")
        witness = {"witnessed_by": giver.sub, "witness_name": (giver.name or "")[:200] or None,
                   "witness_hall": (case.hall or "")[:64], "witness_counter": str(counter)[:64] if counter else None}
    else:
        holder_type, holder_id = holder_of(giver, data.holder_id)
        if data.holder_id is not None and data.holder_id.strip().upper() != holder_id:
            raise NotOwner("you consent for yourself (or the principal you act for) only")
        if department is None:
            raise InvalidField("department", "a consent names the department handling the case")
        decision = access.check(holder_record(holder_type, holder_id))
        if decision.delegated and giver.agent_for is not None:
            agency = giver.agent_for.covering(None, "consent", clock.now())
    consent = Consent(id=uuid.uuid4(), holder_type=holder_type, holder_id=holder_id,
                      licence_type_code=data.licence_type_code, case_id=data.case_id, department=department,
                      expires_at=data.expires_at, given_by=giver.sub[:200],
                      delegation_id=_uuid_or_none(agency.id) if agency is not None else None,
                      **witness)
    await repository.add(session, consent)
    detail = {"licence_type_code": data.licence_type_code, "case_id": str(data.case_id)}
    if witness:
        detail |= {"holder": mask_resident_id(holder_id) if holder_type == "111" else holder_id,
                   "hall": witness["witness_hall"], "counter": witness["witness_counter"]}
    await audit.record(session, giver, "consent.given_at_counter" if witness else "consent.given", "consent",
                       str(consent.id), detail=detail)
    return consent


async def withdraw(session: AsyncSession, consent_id: uuid.UUID, access: Access) -> Consent:
    """The holder (or an agent under a delegation) withdraws a consent; later uses under it are refused."""
    holder = access.principal
    consent = await repository.get(session, consent_id)
    if consent is None:
        raise ConsentNotFound()
    access.check(holder_record(consent.holder_type, consent.holder_id))
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
    usable = [c for c in usable if c.department == department]
    if not usable:
        return "other_department", None
    current = [c for c in usable if c.expires_at > now]
    if not current:
        return "consent_expired", None
    return None, current[0]


async def use(session: AsyncSession, data: LicenceUseCreate, actor: Principal) -> tuple[LicenceUse, Licence | None]:
    """Read a licence under a consent bound to the same case and department. Returns the log row
    and the licence (None when refused: the caller must still commit, so the refusal stays logged)."""
    staff_departments = actor.departments
    department = actor.department or (min(staff_departments) if len(staff_departments) == 1 else None)
    if actor.role == "service":
        # Our own services call as themselves, for the department handling the case.
        department = data.department
    elif data.department is not None:
        if data.department not in staff_departments:
            raise InvalidField("department", "staff use licences for their own departments only")
        department = data.department
    if data.agent is not None and actor.role != "service":
        raise InvalidField("agent", "only a service names the agent who acted for the holder")
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
                     agent=data.agent, delegation_id=data.delegation_id,
                     purpose=data.purpose, outcome="refused" if refusal else "granted", refusal=refusal, at=now)
    await repository.add(session, row)
    await audit.record(session, actor, "licence.used" if refusal is None else "licence.use_refused", "licence_use",
                       str(row.id), reason=data.purpose, detail={"case_id": str(data.case_id), "refusal": refusal})
    return row, licence
