"""Licence rules: issue (by the issuing department, or from an approved case), sign, change
(a new version), suspend, reinstate, revoke, and the published status lists."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import secrets
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from tongban.credentials.db import audit, outbox
from tongban.credentials.identifier import build_identifier
from tongban.credentials.licence import repository
from tongban.credentials.licence.errors import (
    CaseHasLicence,
    InvalidTransition,
    LicenceNotFound,
    NotIssuer,
    StatusListNotFound,
)
from tongban.credentials.licence.models import Licence
from tongban.credentials.licence.schemas import LicenceChange, LicenceCreate, LicenceRead, StatusEntry
from tongban.credentials.licence_type import repository as types
from tongban.credentials.licence_type import service as type_rules
from tongban.credentials.licence_type.errors import LicenceTypeNotFound
from tongban.credentials.licence_type.models import LicenceType
from tongban.credentials.signing import proof
from tongban.credentials.signing import repository as keys
from tongban.credentials.signing import service as signing
from tongban.credentials.signing.models import SigningKey
from tongban.shared import clock
from tongban.shared.auth import Principal
from tongban.shared.contracts.cases import CaseApprovedV1
from tongban.shared.contracts.credentials import (
    LICENCE_ISSUE_FAILED,
    LICENCE_ISSUED,
    LICENCE_REINSTATED,
    LICENCE_REVOKED,
    LICENCE_SUSPENDED,
    LicenceIssuedV1,
    LicenceIssueFailedV1,
    LicenceStatusChangedV1,
)
from tongban.shared.errors import InvalidField
from tongban.shared.events.envelope import make_event
from tongban.shared.ids import InvalidIdentifier, mask_resident_id, normalize_credit_code, normalize_resident_id

STATUS_LIST_PATH = "/status-lists/{id}"


def today() -> dt.date:
    return clock.now().date()


def effective_status(licence: Licence, on: dt.date | None = None) -> str:
    """The stored status, or `expired` for a valid licence past its end of validity."""
    if licence.status == "valid" and licence.valid_until is not None and licence.valid_until < (on or today()):
        return "expired"
    return licence.status


def signed_document(licence: Licence) -> dict[str, Any]:
    """What an issuer signs for a licence version (RFC 8785 form at signing time)."""
    return {
        "identifier": licence.identifier, "type_code": licence.type_code, "issuer_code": licence.issuer_code,
        "version": licence.version, "holder_type": licence.holder_type, "holder_id": licence.holder_id,
        "holder_name": licence.holder_name, "data": licence.data,
        "valid_from": licence.valid_from.isoformat(),
        "valid_until": licence.valid_until.isoformat() if licence.valid_until else None,
        "issued_at": licence.issued_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "kid": licence.kid,
    }


def check_holder(holder_type: str, holder_id: str, field: str = "holder_id") -> str:
    try:
        return normalize_resident_id(holder_id) if holder_type == "111" else normalize_credit_code(holder_id)
    except InvalidIdentifier as exc:
        raise InvalidField(field, str(exc)) from None


def is_owner(principal: Principal, licence: Licence) -> bool:
    """The holder, or an agent acting for the holder (who sees the holder's ID unmasked)."""
    own = principal.id_number if licence.holder_type == "111" else principal.credit_code
    return (own is not None and own == licence.holder_id) or (principal.agent_for is not None and principal.agent_for.id == licence.holder_id)


def ensure_issuer_staff(principal: Principal, issuer_code: str) -> None:
    """Admins, or staff of the issuing department holding credentials:issue."""
    if principal.has("credentials:admin"):
        return
    if principal.has("credentials:issue") and issuer_code in principal.departments:
        return
    raise NotIssuer(f"only department {issuer_code} may do this")


def to_read(licence: Licence, viewer: Principal | None, base_url: str) -> LicenceRead:
    """The API view; the holder's resident ID number is masked for anyone but the holder."""
    holder_id = licence.holder_id
    if licence.holder_type == "111" and (viewer is None or not is_owner(viewer, licence)):
        holder_id = mask_resident_id(holder_id)
    return LicenceRead(
        id=licence.id, identifier=licence.identifier, type_code=licence.type_code, issuer_code=licence.issuer_code,
        serial=licence.serial, version=licence.version, holder_type=licence.holder_type,  # type: ignore[arg-type]
        holder_id=holder_id, holder_name=licence.holder_name, data=licence.data, valid_from=licence.valid_from,
        valid_until=licence.valid_until, issued_at=licence.issued_at,
        status=effective_status(licence), status_reason=licence.status_reason,  # type: ignore[arg-type]
        superseded_by=licence.superseded_by, kid=licence.kid, algorithm=licence.algorithm,
        signature=licence.signature,
        credential_status=StatusEntry(status_list_index=licence.status_index,
                                      status_list_credential=base_url + STATUS_LIST_PATH.format(
                                          id=licence.status_list_id)))


async def with_type_names(session: AsyncSession, reads: list[LicenceRead]) -> list[LicenceRead]:
    """The licence type's name on each view (a wallet shows 营业执照, not its code)."""
    names = await types.names(session, {r.type_code for r in reads})
    for read in reads:
        read.type_name = names.get(read.type_code)
    return reads


async def _licence_type(session: AsyncSession, code: str) -> LicenceType:
    lt = await types.get(session, code)
    if lt is None:
        raise LicenceTypeNotFound(f"no licence type {code}")
    return lt


async def _type_and_key(session: AsyncSession, code: str) -> tuple[LicenceType, SigningKey | None]:
    """The type and its issuer's active key (None before its first licence: `_issue` makes it,
    after the caller's checks, so a refused request leaves no key behind).

    Read once per transaction: approvals handled together (the consumer's groups, one
    transaction) mostly name one type, and each read was a query and two ORM objects per licence.
    Kept with the transaction only (a later one reads again, so a changed type or a rotated key
    is seen from the next transaction on), and only once its key exists."""
    txn = session.sync_session.get_transaction()
    memo = session.info.get(_READ_IN_TRANSACTION)
    if memo is None or memo[0] is not txn:
        memo = session.info[_READ_IN_TRANSACTION] = (txn, {})
    found = memo[1].get(code)
    if found is None:
        found = await types.get_with_key(session, code)
        if found is None:
            raise LicenceTypeNotFound(f"no licence type {code}")
        if found[1] is not None:
            memo[1][code] = found
    return found


_READ_IN_TRANSACTION = "credentials_licence_type_key"


async def _sign(session: AsyncSession, licence: Licence, key: SigningKey,
                position: tuple[int, int] | None = None) -> None:
    """Give the version its status-list position (taken now unless given) and its issuer's signature."""
    licence.kid, licence.algorithm = key.kid, key.algorithm
    licence.status_list_id, licence.status_index = position or await repository.allocate_status_position(
        session, secrets.randbelow)
    licence.signature = signing.sign(key, signed_document(licence))


async def issue(session: AsyncSession, data: LicenceCreate, actor: Principal | str) -> Licence:
    """Issue a licence of `data.type_code` by the type's issuing department, signed by its key."""
    lt, key = await _type_and_key(session, data.type_code)
    if isinstance(actor, Principal):
        ensure_issuer_staff(actor, lt.issuer_code)
    licence = await _issue(session, lt, key, data, actor, data.source_case_id)
    if licence is None:
        raise CaseHasLicence(f"case {data.source_case_id} has its licence already")
    return licence


async def _issue(session: AsyncSession, lt: LicenceType, key: SigningKey | None, data: LicenceCreate,
                 actor: Principal | str, source_case_id: uuid.UUID | None) -> Licence | None:
    holder_id = check_holder(lt.holder_type, data.holder_id)
    fields = type_rules.check_data(lt, data.data)
    valid_from = data.valid_from or today()
    valid_until = type_rules.valid_until(lt, valid_from, data.valid_until)
    key = key or await signing.signing_key_for(session, lt.issuer_code, actor)
    serial, list_id, index = await repository.allocate_serial_and_position(session, secrets.randbelow)
    licence = Licence(
        id=uuid.uuid4(), identifier=build_identifier(lt.code, lt.issuer_code, serial, 1), type_code=lt.code,
        issuer_code=lt.issuer_code, serial=serial, version=1, holder_type=lt.holder_type, holder_id=holder_id,
        holder_name=data.holder_name, data=fields, valid_from=valid_from, valid_until=valid_until,
        issued_at=clock.now().replace(microsecond=0), status="valid", source_case_id=source_case_id,
        created_by=actor.sub if isinstance(actor, Principal) else actor)
    await _sign(session, licence, key, (list_id, index))
    if not await repository.add_once(session, licence):
        # The case has its licence (a republished approval, or a concurrent delivery that won).
        # Its serial and status-list count are spent for nothing, which is harmless.
        return None
    await _announce_issue(session, licence, None)
    await audit.record(session, actor, "licence.issued", "licence", str(licence.id),
                       detail={"identifier": licence.identifier, "type_code": lt.code,
                               "source_case_id": str(source_case_id) if source_case_id else None})
    return licence


async def licence_issue_failed(session: AsyncSession, approved: CaseApprovedV1, reason: str) -> None:
    """Tell the case that its licence cannot be issued (and audit it): the department sees why
    on the case instead of a licence that never comes."""
    await outbox.add(session, make_event("credentials", LICENCE_ISSUE_FAILED, LicenceIssueFailedV1(
        case_id=approved.case_id, case_number=approved.case_number, type_code=approved.result_licence_type_code,
        reason=reason[:1000]), subject=str(approved.case_id)))
    await audit.record(session, "system:credentials", "licence.issue_failed", "case", str(approved.case_id), reason[:1000],
                       {"case_number": approved.case_number, "type_code": approved.result_licence_type_code})


async def issue_for_case(session: AsyncSession, data: LicenceCreate, case_id: uuid.UUID,
                         department: str) -> Licence | None:
    """Issue the licence an approved case produces, once per case; None if it exists already
    (the unique source case decides, in the insert itself)."""
    lt, key = await _type_and_key(session, data.type_code)
    if lt.issuer_code != department:
        raise InvalidField("department", f"licence type {lt.code} is issued by {lt.issuer_code}, not {department}")
    # A case's form carries more than the licence needs: keep the type's fields only.
    names = {f["name"] for f in lt.fields}
    data = data.model_copy(update={"data": {k: v for k, v in data.data.items() if k in names}})
    return await _issue(session, lt, key, data, f"case:{case_id}", case_id)


async def change(session: AsyncSession, licence_id: uuid.UUID, data: LicenceChange, actor: Principal) -> Licence:
    """Issue a new version; the old one is kept, marked superseded, and still verifies as such."""
    old = await repository.get(session, licence_id, lock=True)
    if old is None:
        raise LicenceNotFound()
    ensure_issuer_staff(actor, old.issuer_code)
    if old.status in ("superseded", "revoked"):
        raise InvalidTransition(f"a {old.status} licence cannot change; change its latest version")
    lt = await _licence_type(session, old.type_code)
    fields = type_rules.check_data(lt, data.data) if data.data is not None else old.data
    valid_until = (type_rules.valid_until(lt, old.valid_from, data.valid_until)
                   if data.valid_until is not None or lt.validity != "given" else old.valid_until)
    new = Licence(
        id=uuid.uuid4(), identifier=build_identifier(old.type_code, old.issuer_code, old.serial, old.version + 1),
        type_code=old.type_code, issuer_code=old.issuer_code, serial=old.serial, version=old.version + 1,
        holder_type=old.holder_type, holder_id=old.holder_id, holder_name=data.holder_name or old.holder_name,
        data=fields, valid_from=old.valid_from, valid_until=valid_until,
        issued_at=clock.now().replace(microsecond=0), status=old.status if old.status == "suspended"
        else "valid", status_reason=old.status_reason if old.status == "suspended" else None, created_by=actor.sub)
    await _sign(session, new, await signing.signing_key_for(session, old.issuer_code, actor))
    await repository.add(session, new)
    old.status, old.status_reason, old.superseded_by = "superseded", data.reason, new.id
    old.status_changed_at = clock.now()
    await session.flush()
    await _announce_issue(session, new, old.id)
    await audit.record(session, actor, "licence.changed", "licence", str(new.id), reason=data.reason,
                       detail={"identifier": new.identifier, "supersedes": str(old.id)})
    return new


_TRANSITIONS = {"suspend": ({"valid"}, "suspended", LICENCE_SUSPENDED),
                "reinstate": ({"suspended"}, "valid", LICENCE_REINSTATED),
                "revoke": ({"valid", "suspended"}, "revoked", LICENCE_REVOKED)}


async def set_status(session: AsyncSession, licence_id: uuid.UUID, action: str, reason: str,
                     actor: Principal) -> Licence:
    """Suspend, reinstate or revoke a licence version, with a reason."""
    allowed, target, subject = _TRANSITIONS[action]
    licence = await repository.get(session, licence_id, lock=True)
    if licence is None:
        raise LicenceNotFound()
    ensure_issuer_staff(actor, licence.issuer_code)
    if licence.status not in allowed:
        raise InvalidTransition(f"cannot {action} a {licence.status} licence")
    licence.status, licence.status_reason, licence.status_changed_at = target, reason, clock.now()
    await session.flush()
    await outbox.add(session, make_event("credentials", subject, LicenceStatusChangedV1(
        licence_id=licence.id, identifier=licence.identifier, status=target, reason=reason),  # type: ignore[arg-type]
        subject=str(licence.id)))
    await audit.record(session, actor, f"licence.{target}", "licence", str(licence.id), reason=reason,
                       detail={"identifier": licence.identifier})
    return licence


async def _announce_issue(session: AsyncSession, licence: Licence, supersedes: uuid.UUID | None) -> None:
    await outbox.add(session, make_event("credentials", LICENCE_ISSUED, LicenceIssuedV1(
        licence_id=licence.id, identifier=licence.identifier, type_code=licence.type_code,
        issuer_code=licence.issuer_code, version=licence.version, holder_type=licence.holder_type,  # type: ignore[arg-type]
        holder_id=licence.holder_id, valid_from=licence.valid_from, valid_until=licence.valid_until,
        source_case_id=licence.source_case_id, supersedes=supersedes), subject=str(licence.id)))


async def signature_intact(session: AsyncSession, licence: Licence) -> bool:
    """Does the stored signature still match the stored licence (nothing altered at rest)?"""
    key = await keys.get_key(session, licence.kid)
    return key is not None and signing.verify(key, signed_document(licence), licence.signature)


def encode_bitstring(size: int, positions: list[int]) -> str:
    """W3C Bitstring Status List `encodedList`: multibase base64url (no padding) of the GZIP'd
    bitstring, index 0 being the most significant bit of the first byte."""
    bits = bytearray(size // 8)
    for i in positions:
        bits[i // 8] |= 0x80 >> (i % 8)
    return "u" + base64.urlsafe_b64encode(gzip.compress(bytes(bits), mtime=0)).rstrip(b"=").decode()


STATUS_LIST_SIGNER = "system:status-list"
# A signed copy may be cached and relayed (CDN, offline verifiers); past this it is stale.
STATUS_LIST_VALIDITY = dt.timedelta(days=1)


async def status_list_credential(session: AsyncSession, list_id: int, purpose: str, base_url: str,
                                 signer_code: str, signer_name: str) -> dict[str, Any]:
    """One status list in the BitstringStatusListCredential shape (revocation or suspension),
    signed (Data Integrity proof, eddsa-jcs-2022) so that a cached or relayed copy can be trusted."""
    lst = await repository.get_status_list(session, list_id)
    if lst is None:
        raise StatusListNotFound()
    positions = await repository.positions_with_status(
        session, list_id, "revoked" if purpose == "revocation" else "suspended")
    url = base_url + STATUS_LIST_PATH.format(id=list_id) + f"?purpose={purpose}"
    now = clock.now().replace(microsecond=0)
    credential = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": url, "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": "did:web:tongban.gov.cn:credentials",
        "validFrom": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "validUntil": (now + STATUS_LIST_VALIDITY).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "credentialSubject": {"id": url + "#list", "type": "BitstringStatusList", "statusPurpose": purpose,
                              "encodedList": encode_bitstring(lst.size, positions)},
    }
    key = await signing.platform_key(session, signer_code, signer_name, STATUS_LIST_SIGNER)
    return proof.add_proof(credential, key.kid, key.algorithm, f"{base_url}/keys#{key.kid}",
                           credential["validFrom"])
