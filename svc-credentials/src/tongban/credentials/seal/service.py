"""Company e-seals (电子印章): issue (free, on registration or on the legal representative's
request), delegate to named staff with an expiry, apply (sign a document digest), verify (public),
revoke; every application and every refused attempt goes into the company's seal use log.

Only the legal representative (token `company_role` = legal_representative, with
`credentials:seal`) manages a company's seals and may apply them; other staff of the company apply
a seal only under an active delegation. Admins (`credentials:admin`) may issue and revoke seals
and read any log, but never apply a company's seal.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from tongban.credentials.db import audit, outbox
from tongban.credentials.seal import repository, timestamp, token
from tongban.credentials.seal.errors import (
    DelegationNotFound,
    DelegationRevoked,
    MalformedStamp,
    NotLegalRepresentative,
    SealExists,
    SealNotFound,
    SealRevoked,
)
from tongban.credentials.seal.models import RegistrationItem, Seal, SealDelegation, SealUse
from tongban.credentials.seal.schemas import (
    DelegationCreate,
    RegistrationItemPut,
    SealApply,
    SealCreate,
    SealVerificationRequest,
    SealVerificationResult,
)
from tongban.credentials.signing import algorithms, keystore
from tongban.credentials.signing import repository as keys
from tongban.shared import clock
from tongban.shared.auth import InsufficientScope, NotOwner, Principal
from tongban.shared.contracts.cases import CaseApprovedV1
from tongban.shared.contracts.credentials import SEAL_ISSUED, SEAL_REVOKED, SealIssuedV1, SealRevokedV1
from tongban.shared.errors import InvalidField, NotFound
from tongban.shared.events.envelope import make_event
from tongban.shared.ids import InvalidIdentifier, normalize_credit_code

KINDS = ("legal_name", "finance", "contract", "invoice")
_SUFFIX = {"legal_name": "", "finance": "财务专用章", "contract": "合同专用章", "invoice": "发票专用章"}
MAX_DELEGATION = dt.timedelta(days=366)
SEAL_SCOPE = "credentials:seal"


def seal_name(company_name: str, kind: str) -> str:
    # The legal-name seal (企业法定名称章) shows the company's registered name and nothing more.
    return company_name + _SUFFIX[kind]


def _now() -> dt.datetime:
    return clock.now()


def is_legal_rep(principal: Principal) -> bool:
    return (principal.role == "company" and principal.credit_code is not None
            and principal.claims.get("company_role") == "legal_representative")


def ensure_manager(principal: Principal, company_code: str) -> None:
    """Admins, or the company's legal representative holding credentials:seal."""
    if principal.has("credentials:admin"):
        return
    if not principal.has(SEAL_SCOPE):
        raise InsufficientScope(f"missing scope: {SEAL_SCOPE}")
    if principal.credit_code != company_code:
        raise NotOwner()
    if not is_legal_rep(principal):
        raise NotLegalRepresentative()


def ensure_member(principal: Principal, company_code: str) -> None:
    """Admins, or any user of the company (legal representative or staff)."""
    if principal.has("credentials:admin"):
        return
    if principal.role != "company" or principal.credit_code != company_code:
        raise NotOwner()


async def _make(session: AsyncSession, company_code: str, company_name: str, kind: str, algorithm: str,
                source: str, actor: Principal | str, source_case_id: uuid.UUID | None = None) -> Seal:
    kid = f"seal-{company_code}-{secrets.token_hex(6)}"
    public = keystore.current().generate(kid, algorithm)
    seal = Seal(id=uuid.uuid4(), company_code=company_code, company_name=company_name, kind=kind,
                name=seal_name(company_name, kind), kid=kid, algorithm=algorithm, public_key=public, status="active",
                source=source, source_case_id=source_case_id,
                created_by=actor.sub if isinstance(actor, Principal) else actor)
    await repository.add(session, seal)
    issued = SealIssuedV1(seal_id=seal.id, company_code=company_code, kind=kind, name=seal.name,  # type: ignore[arg-type]
                          kid=kid, algorithm=algorithm, source=source,  # type: ignore[arg-type]
                          source_case_id=source_case_id)
    await outbox.add(session, make_event("credentials", SEAL_ISSUED, issued, subject=str(seal.id)))
    await audit.record(session, actor, "seal.issued", "seal", str(seal.id),
                       detail={"company_code": company_code, "kind": kind, "kid": kid, "source": source})
    return seal


async def create(session: AsyncSession, data: SealCreate, actor: Principal) -> Seal:
    """Issue a seal on request: the legal representative for their company, or an admin for any."""
    if actor.has("credentials:admin"):
        if data.company_code is None:
            raise InvalidField("company_code", "required when an admin issues a seal")
        try:
            company_code = normalize_credit_code(data.company_code)
        except InvalidIdentifier as exc:
            raise InvalidField("company_code", str(exc)) from None
    else:
        if actor.credit_code is None:
            raise NotOwner("only a company's legal representative may ask for its seals")
        company_code = actor.credit_code
        if data.company_code is not None and data.company_code.upper() != company_code:
            raise NotOwner()
        ensure_manager(actor, company_code)
    if data.kind in await repository.active_kinds(session, company_code):
        raise SealExists(f"{company_code} already has an active {data.kind} seal; revoke it first")
    try:
        async with session.begin_nested():
            return await _make(session, company_code, data.company_name, data.kind, data.algorithm, "request", actor)
    except IntegrityError:
        # A concurrent request made the same kind first (one active seal per kind).
        raise SealExists(f"{company_code} already has an active {data.kind} seal") from None


async def issue_for_registration(session: AsyncSession, approved: CaseApprovedV1) -> list[Seal]:
    """A company registration (an approved case of a registration item by a company) gets its four
    seals, free. Kinds the company already holds are skipped; a repeated approval adds nothing."""
    if approved.applicant_type != "company":
        return []
    if not await repository.is_registration_item(session, approved.item_basic_code):
        return []
    if await repository.any_for_case(session, approved.case_id):
        return []
    company_code = normalize_credit_code(approved.applicant_id)   # InvalidIdentifier: the caller's to handle
    held = await repository.active_kinds(session, company_code)
    return [await _make(session, company_code, approved.applicant_name, kind, "SM2", "registration",
                        f"case:{approved.case_id}", source_case_id=approved.case_id)
            for kind in KINDS if kind not in held]


async def get_visible(session: AsyncSession, seal_id: uuid.UUID, viewer: Principal) -> Seal:
    seal = await repository.get(session, seal_id)
    if seal is None:
        raise SealNotFound()
    ensure_member(viewer, seal.company_code)
    return seal


def visible_company(viewer: Principal, company_code: str | None) -> str | None:
    """Which company's seals or log a caller may list: admins any (or all), others their own."""
    if viewer.has("credentials:admin"):
        return company_code.upper() if company_code else None
    if viewer.role != "company" or viewer.credit_code is None:
        raise NotOwner("only a company's users see its seals")
    if company_code is not None and company_code.upper() != viewer.credit_code:
        raise NotOwner()
    return viewer.credit_code


async def revoke(session: AsyncSession, seal_id: uuid.UUID, reason: str, actor: Principal) -> Seal:
    """Revoke a seal for good (lost, compromised, company deregistered); its stamps stay verifiable."""
    seal = await repository.get(session, seal_id, lock=True)
    if seal is None:
        raise SealNotFound()
    ensure_manager(actor, seal.company_code)
    if seal.status == "revoked":
        raise SealRevoked("the seal was already revoked")
    seal.status, seal.revoked_at, seal.revoked_reason = "revoked", _now(), reason
    await session.flush()
    await outbox.add(session, make_event("credentials", SEAL_REVOKED, SealRevokedV1(
        seal_id=seal.id, company_code=seal.company_code, kind=seal.kind, reason=reason),  # type: ignore[arg-type]
        subject=str(seal.id)))
    await audit.record(session, actor, "seal.revoked", "seal", str(seal.id), reason=reason)
    return seal


async def delegate(session: AsyncSession, seal_id: uuid.UUID, data: DelegationCreate,
                   actor: Principal) -> SealDelegation:
    """The legal representative lets a named staff member apply this seal until `expires_at`."""
    seal = await repository.get(session, seal_id)
    if seal is None:
        raise SealNotFound()
    ensure_manager(actor, seal.company_code)
    if actor.has("credentials:admin") and not is_legal_rep(actor):
        raise NotLegalRepresentative("only the company's legal representative delegates its seals")
    if seal.status != "active":
        raise SealRevoked()
    now = _now()
    if not now < data.expires_at <= now + MAX_DELEGATION:
        raise InvalidField("expires_at", "must be in the future and at most a year ahead")
    delegation = SealDelegation(id=uuid.uuid4(), seal_id=seal.id, grantee_sub=data.grantee_sub,
                                grantee_name=data.grantee_name, granted_by=actor.sub, expires_at=data.expires_at)
    await repository.add(session, delegation)
    await audit.record(session, actor, "seal.delegated", "seal", str(seal.id),
                       detail={"delegation": str(delegation.id), "grantee": data.grantee_sub,
                               "expires_at": data.expires_at.isoformat()})
    return delegation


async def revoke_delegation(session: AsyncSession, seal_id: uuid.UUID, delegation_id: uuid.UUID, reason: str,
                            actor: Principal) -> SealDelegation:
    seal = await repository.get(session, seal_id)
    if seal is None:
        raise SealNotFound()
    ensure_manager(actor, seal.company_code)
    delegation = await repository.get_delegation(session, seal_id, delegation_id, lock=True)
    if delegation is None:
        raise DelegationNotFound()
    if delegation.revoked_at is not None:
        raise DelegationRevoked()
    delegation.revoked_at, delegation.revoked_reason = _now(), reason
    await session.flush()
    await audit.record(session, actor, "seal.delegation_revoked", "seal", str(seal.id), reason=reason,
                       detail={"delegation": str(delegation.id), "grantee": delegation.grantee_sub})
    return delegation


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


async def _refusal(session: AsyncSession, seal: Seal, actor: Principal,
                   now: dt.datetime) -> tuple[str | None, SealDelegation | None, str | None]:
    """Why the actor may not apply the seal (None: it may), the seal delegation it applies under,
    and the gateway delegation (委托, action `seal.use`) an agent of the company applies under."""
    refusal, delegation = await _seal_refusal(session, seal, actor, now)
    if refusal in ("no_delegation", "delegation_revoked", "delegation_expired") \
            and actor.agent_for is not None and actor.agent_for.id == seal.company_code:
        agency = actor.agent_for.covering(None, "seal", clock.now())
        if agency is not None:
            return None, None, agency.id
        refusal = "outside_delegation"
    return refusal, delegation, None


async def _seal_refusal(session: AsyncSession, seal: Seal, actor: Principal,
                        now: dt.datetime) -> tuple[str | None, SealDelegation | None]:
    if seal.status != "active":
        return "seal_revoked", None
    if actor.role != "company" or actor.credit_code != seal.company_code:
        return "other_company", None
    if not actor.has(SEAL_SCOPE):
        return "no_seal_scope", None
    if is_legal_rep(actor):
        return None, None
    delegations = await repository.delegations_of(session, seal.id, actor.sub)
    if not delegations:
        return "no_delegation", None
    live = [d for d in delegations if d.revoked_at is None]
    if not live:
        return "delegation_revoked", None
    current = [d for d in live if d.expires_at > now]
    if not current:
        return "delegation_expired", None
    return None, current[0]


async def apply(session: AsyncSession, seal_id: uuid.UUID, data: SealApply, actor: Principal,
                tsa_code: str, tsa_name: str) -> tuple[SealUse, str | None]:
    """Seal a document: sign its digest with the seal's key, and have the platform's TSA time-stamp
    the signature. Returns the log row and the stamp (None when refused: the caller must still
    commit, so the refused attempt stays logged)."""
    seal = await repository.get(session, seal_id)
    if seal is None:
        raise SealNotFound()
    now = _now().replace(microsecond=0)
    refusal, delegation, agency = await _refusal(session, seal, actor, now)
    use = SealUse(seal_id=seal.id, company_code=seal.company_code, actor=actor.sub, actor_name=actor.name,
                  delegation_id=delegation.id if delegation else None,
                  agency_delegation_id=_uuid_or_none(agency), hash_algorithm=data.hash_algorithm,
                  document_hash=data.document_hash, document_name=data.document_name,
                  outcome="refused" if refusal else "applied", refusal=refusal, at=now)
    await repository.add(session, use)
    stamp = None
    if refusal is None:
        document = {"v": 1, "seal": str(seal.id), "kid": seal.kid, "company": seal.company_code, "kind": seal.kind,
                    "name": seal.name, "alg": data.hash_algorithm, "hash": data.document_hash, "use": use.id,
                    "at": now.strftime("%Y-%m-%dT%H:%M:%SZ")}
        signature = keystore.current().sign(seal.kid, seal.algorithm, algorithms.canonical(document))
        use.signature = algorithms.b64u(signature)
        use.timestamp_token, _ = await timestamp.issue(session, signature, data.hash_algorithm, tsa_code, tsa_name)
        await session.flush()
        stamp = token.encode(document, signature)
    await audit.record(session, actor, "seal.applied" if refusal is None else "seal.use_refused", "seal_use",
                       str(use.id), detail={"seal": str(seal.id), "refusal": refusal,
                                            "delegation": str(delegation.id) if delegation else None,
                                            "agency_delegation": agency, "principal": seal.company_code})
    return use, stamp


async def verify(session: AsyncSession, data: SealVerificationRequest,
                 verifier: Principal | None) -> SealVerificationResult:
    """Public check of a sealed document: its digest and its stamp (audited, no values kept)."""
    try:
        document, signed, signature = token.decode(data.stamp)
    except token.StampError as exc:
        raise MalformedStamp(str(exc)) from None
    result = await _judge(session, data, document, signed, signature)
    await audit.record(session, verifier or "anonymous", "seal.verified", "seal",
                       str(result.seal_id) if result.seal_id else "unknown",
                       detail={"result": result.result, "reason": result.reason})
    return result


async def _judge(session: AsyncSession, data: SealVerificationRequest, document: dict, signed: bytes,
                 signature: bytes) -> SealVerificationResult:
    seal = await repository.by_kid(session, document["kid"])
    if seal is None or str(seal.id) != document["seal"] or seal.company_code != document["company"]:
        return SealVerificationResult(result="forged", reason="signed by a key no seal of ours has")
    if not algorithms.verify(seal.algorithm, seal.public_key, signed, signature):
        return SealVerificationResult(result="forged", reason="the seal's signature does not match the stamp")
    use = await repository.get_use(session, document["use"])
    if use is None or use.seal_id != seal.id or use.outcome != "applied" or use.signature != algorithms.b64u(signature):
        return SealVerificationResult(result="forged", reason="no such application of this seal was recorded")
    base = dict(seal_id=seal.id, seal_name=document["name"], kind=seal.kind, company_code=seal.company_code,
                company_name=seal.company_name, sealed_at=use.at, seal_status=seal.status,
                timestamped_at=await _timestamped_at(session, use, signature))
    if document["alg"] != data.hash_algorithm or document["hash"] != data.document_hash:
        return SealVerificationResult(result="invalid", reason="the document's digest is not the one sealed: the "
                                      "document was changed, or the stamp belongs to another document", **base)
    reason = "the seal's signature over this document's digest checks out"
    if seal.revoked_at is not None:
        reason += f"; sealed before the seal was revoked on {seal.revoked_at.date().isoformat()}"
    return SealVerificationResult(result="valid", reason=reason, **base)


def timestamped_at(use: SealUse) -> dt.datetime:
    """genTime of the token this service just made (for the answer to the application)."""
    assert use.timestamp_token is not None
    return dt.datetime.fromisoformat(timestamp.FORMAT.decode(use.timestamp_token)[0]["genTime"].replace("Z", "+00:00"))


async def _timestamped_at(session: AsyncSession, use: SealUse, signature: bytes) -> dt.datetime | None:
    """The recorded time-stamp's genTime, checked against the TSA's key (None for uses sealed
    before time-stamps existed, or a token that does not check out)."""
    if use.timestamp_token is None:
        return None
    try:
        kid = timestamp.FORMAT.decode(use.timestamp_token)[0]["kid"]
    except timestamp.TimestampError:
        return None
    key = await keys.get_key(session, kid)
    if key is None:
        return None
    key_set = {"keys": [algorithms.jwk(key.kid, key.algorithm, key.public_key, key.issuer_code, key.status)]}
    return timestamp.check(use.timestamp_token, signature, key_set)[0]


async def seal_key_set(session: AsyncSession) -> dict[str, list[dict[str, str]]]:
    """Every seal's public key, JWKS-shaped (issuer = the company's credit code)."""
    return {"keys": [{**algorithms.jwk(s.kid, s.algorithm, s.public_key, s.company_code,
                                       "active" if s.status == "active" else "retired"),
                      "seal": str(s.id), "kind": s.kind}
                     for s in await repository.all_seal_keys(session)]}


async def put_registration_item(session: AsyncSession, basic_code: str, data: RegistrationItemPut,
                                actor: Principal) -> RegistrationItem:
    """Mark an item as company registration (its approvals for companies issue seals)."""
    item = await repository.get_registration_item(session, basic_code)
    if item is None:
        item = RegistrationItem(basic_code=basic_code, name=data.name, created_by=actor.sub)
        await repository.add(session, item)
    else:
        item.name = data.name
        await session.flush()
    await session.refresh(item)
    await audit.record(session, actor, "registration_item.put", "registration_item", basic_code,
                       detail={"name": data.name})
    return item


async def delete_registration_item(session: AsyncSession, basic_code: str, actor: Principal) -> None:
    if not await repository.delete_registration_item(session, basic_code):
        raise NotFound(f"{basic_code} is not a registration item")
    await audit.record(session, actor, "registration_item.deleted", "registration_item", basic_code)
