"""Presentations (亮证): a holder makes a short-lived signed QR payload of one licence, showing
all or some fields; anyone verifies it online (no login) or offline with the published keys.

Online verification answers valid / suspended / revoked / expired / superseded, `forged` for
a bad signature or an unknown key, or `invalid` (with the reason) for an expired or replayed
presentation. A partner city's presentation (its issuer's key on our trust list, 深中互认) is
checked for signature, expiry, replay (the same rule as ours) and end of validity, then against
the partner's own signed status lists (`trust/status_lists.py`): `unknown` when they cannot be
had. Each verification is audited: who verified, when, the answer; never the values.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tongban.credentials.db import audit
from tongban.credentials.licence import repository as licences
from tongban.credentials.licence import service as licence_rules
from tongban.credentials.licence.errors import LicenceNotFound
from tongban.credentials.presentation import repository, token
from tongban.credentials.presentation.errors import MalformedPresentation, NotPresentable
from tongban.credentials.presentation.models import Presentation
from tongban.credentials.presentation.schemas import PresentationCreate, VerificationResult
from tongban.credentials.signing import algorithms, keystore
from tongban.credentials.signing import repository as keys
from tongban.credentials.signing import service as signing
from tongban.credentials.trust import service as trust
from tongban.credentials.trust.status_lists import PartnerStatusLists, StatusUnknown
from tongban.shared import clock
from tongban.shared.auth import Principal
from tongban.shared.errors import InvalidField
from tongban.shared.ids import mask_resident_id

HOLDER_NAME = "holder_name"
ANONYMOUS = "anonymous"
OURS = ""            # the replay record's origin for our own presentations (partners': their region code)
ISSUER_NAME_TTL = 60.0
_issuer_names: dict[str, tuple[float, str | None]] = {}
# Our public keys never change once made (rotation adds keys), so verifiers can keep them.
# Trusted partner keys are read on each use: their status changes (a retired key verifies only
# what it signed before its retirement).
_key_cache: dict[str, tuple[str, bytes, str, str | None]] = {}


async def create(session: AsyncSession, licence_id: uuid.UUID, data: PresentationCreate, holder: Principal,
                 ttl_seconds: int) -> tuple[Presentation, str]:
    """Make a presentation of a valid licence; returns it and its QR payload. The caller has
    decided that `holder` may show it (the policy's `licence.present`, or a partner's consent)."""
    licence = await licences.get(session, licence_id)
    if licence is None:
        raise LicenceNotFound()
    status = licence_rules.effective_status(licence)
    if status != "valid":
        raise NotPresentable(f"this licence is {status}")
    available = [*licence.data.keys(), HOLDER_NAME]
    chosen = list(dict.fromkeys(data.fields)) if data.fields is not None else available
    for name in chosen:
        if name not in available:
            raise InvalidField("fields", f"{name} is not a field of this licence")
    shown = {n: (licence.holder_name if n == HOLDER_NAME else licence.data[n]) for n in chosen}
    key = await signing.signing_key_for(session, licence.issuer_code, holder)
    now = clock.now().replace(microsecond=0)
    expires = now + dt.timedelta(seconds=ttl_seconds)
    pid = secrets.token_urlsafe(16)
    document = {
        "v": 1, "pid": pid, "lid": licence.identifier, "ver": licence.version, "typ": licence.type_code,
        "iss": licence.issuer_code, "iat": int(now.timestamp()), "exp": int(expires.timestamp()), "kid": key.kid,
        "valid_until": licence.valid_until.isoformat() if licence.valid_until else None, "fields": shown,
        "status": {"list": licence.status_list_id, "index": licence.status_index},
    }
    signature = keystore.current().sign(key.kid, key.algorithm, algorithms.canonical(document))
    row = await repository.add(session, Presentation(id=pid, licence_id=licence.id, fields=chosen,
                                                     single_use=data.single_use, created_by=holder.sub,
                                                     expires_at=expires))
    await audit.record(session, holder, "presentation.created", "licence", str(licence.id),
                       detail={"presentation": pid, "fields": chosen, "principal": licence.holder_id
                               if licence.holder_type == "001" else mask_resident_id(licence.holder_id)})
    return row, token.encode(document, signature)


async def _public_key(session: AsyncSession, kid: str) -> tuple[str, bytes, str, str | None, float | None] | None:
    """(algorithm, public key, issuer code, partner region or None for our own issuers, when a
    partner key was retired or None)."""
    if kid in _key_cache:
        return (*_key_cache[kid], None)
    key = await keys.get_key(session, kid)
    if key is not None:
        _key_cache[kid] = (key.algorithm, key.public_key, key.issuer_code, None)
        return (*_key_cache[kid], None)
    trusted = await trust.trusted_public_key(session, kid)
    if trusted is None:
        return None
    # A partner key can be retired by the next sync: it is read on every use, not kept.
    retired = trusted[0].retired_at.timestamp() if trusted[0].status == "retired" and trusted[0].retired_at else None
    return trusted[0].algorithm, trusted[0].public_key, trusted[0].issuer_code, trusted[1].region_code, retired


async def _issuer_name(session: AsyncSession, code: str) -> str | None:
    """The issuer's name, kept a minute: verification is the hot path and names rarely change."""
    hit = _issuer_names.get(code)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    issuer = await keys.get_issuer(session, code)
    name = issuer.name if issuer else None
    _issuer_names[code] = (time.monotonic() + ISSUER_NAME_TTL, name)
    return name


async def verify(session: AsyncSession, qr: str, verifier: Principal | None,
                 partner_lists: PartnerStatusLists) -> VerificationResult:
    """Verify a presentation online and audit the verification."""
    try:
        document, signed, signature = token.decode(qr)
    except token.TokenError as exc:
        raise MalformedPresentation(str(exc)) from None
    result = await _judge(session, document, signed, signature, verifier.sub if verifier else ANONYMOUS,
                          partner_lists)
    await audit.record(session, verifier or ANONYMOUS, "presentation.verified", "presentation",
                       document["pid"][:40] if result.result != "forged" else "forged",
                       detail={"result": result.result, "reason": result.reason})
    return result


async def _replay(session: AsyncSession, origin: str, pid: str, verifier: str, expires_at: dt.datetime,
                  now: dt.datetime) -> str | None:
    """Why this verification is a replay, or None. One rule for ours and partners': the first
    online verifier may check again (a retry) until expiry; anyone else, or an anonymous caller
    (who cannot be told apart), is replaying it; past expiry, a presentation seen before is a replay."""
    if now > expires_at:
        if await repository.was_checked(session, origin, pid):
            return "replayed: the presentation was verified before and has expired since"
        return None
    first = await repository.first_verifier(session, origin, pid, verifier, expires_at)
    if first is not None and (first != verifier or verifier == ANONYMOUS):
        return "replayed: the presentation was already verified by another verifier"
    return None


# A presentation seen before and shown again after its expiry is named a replay for this long;
# after that it is merely expired (invalid all the same), and its replay record can go.
REPLAY_MEMORY = dt.timedelta(days=1)
PURGE_INTERVAL = 3600.0


async def purge_replay_records(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Periodic: delete replay records past expiry + REPLAY_MEMORY (replicas may run it at once)."""
    async with sessionmaker() as session, session.begin():
        await repository.purge_checks(session, clock.now() - REPLAY_MEMORY)


async def _judge(session: AsyncSession, document: dict, signed: bytes, signature: bytes, verifier: str,
                 partner_lists: PartnerStatusLists) -> VerificationResult:
    key = await _public_key(session, document["kid"])
    if key is None or key[2] != document["iss"]:
        return VerificationResult(result="forged", reason="signed by a key the issuer never published")
    if not algorithms.verify(key[0], key[1], signed, signature):
        return VerificationResult(result="forged", reason="the signature does not match")
    if key[3] is not None:
        # A retired key verifies only what it signed while it was current.
        iat = document.get("iat")
        if key[4] is not None and (not isinstance(iat, int) or isinstance(iat, bool) or iat > key[4]):
            return VerificationResult(result="forged", reason="signed by a partner key after it was retired")
        return await _judge_partner(session, document, key[3], verifier, partner_lists)
    found = await repository.with_licence(session, document["pid"])
    if found is None or found[1].identifier != document["lid"]:
        return VerificationResult(result="forged", reason="no such presentation was made")
    presentation, licence = found
    now = clock.now()
    base = dict(issuer_code=licence.issuer_code, issuer_name=await _issuer_name(session, licence.issuer_code),
                type_code=licence.type_code, identifier=licence.identifier, version=licence.version,
                presented_at=dt.datetime.fromtimestamp(document["iat"], dt.UTC), expires_at=presentation.expires_at)
    if presentation.single_use and (replay := await _replay(session, OURS, presentation.id, verifier,
                                                            presentation.expires_at, now)):
        return VerificationResult(result="invalid", reason=replay, **base)
    if now > presentation.expires_at:
        return VerificationResult(result="invalid", reason="the presentation has expired", **base)
    status = licence_rules.effective_status(licence)
    if status != "valid":
        return VerificationResult(result=status, reason=f"the licence is {status}", **base)  # type: ignore[arg-type]
    return VerificationResult(result="valid", reason="signature, presentation and licence status check out",
                              fields=document["fields"], **base)


async def _judge_partner(session: AsyncSession, document: dict, region_code: str, verifier: str,
                         partner_lists: PartnerStatusLists) -> VerificationResult:
    """A partner city's presentation whose signature checked out with a key on our trust list:
    its expiry, replay, end of validity, then the partner's own signed status lists."""
    region = await trust.region(session, region_code)
    assert region is not None  # the key's region (a foreign key)
    now = clock.now()
    try:
        presented = dt.datetime.fromtimestamp(document["iat"], dt.UTC)
        expires = dt.datetime.fromtimestamp(document["exp"], dt.UTC)
    except (OverflowError, OSError, ValueError):
        return VerificationResult(result="invalid", reason="the presentation's times are out of range",
                                  issuer_code=document["iss"], issuer_name=region.name, issuer_region=region_code)
    base = dict(issuer_code=document["iss"], issuer_name=region.name, type_code=document["typ"][:40],
                identifier=document["lid"][:80], version=document["ver"], issuer_region=region_code,
                presented_at=presented, expires_at=expires,
                recognised_as=await trust.recognised_as(session, region_code, document["typ"][:40]))
    if replay := await _replay(session, region_code, document["pid"][:64], verifier, expires, now):
        return VerificationResult(result="invalid", reason=replay, **base)
    if now > expires:
        return VerificationResult(result="invalid", reason="the presentation has expired", **base)
    valid_until = document.get("valid_until")
    if isinstance(valid_until, str) and valid_until < now.date().isoformat():
        return VerificationResult(result="expired", reason="the licence is expired", **base)
    status = document["status"]
    try:
        for purpose, result in (("revocation", "revoked"), ("suspension", "suspended")):
            if await partner_lists.is_set(session, region_code, region.status_list_url, status.get("list"),
                                          status.get("index"), purpose):
                return VerificationResult(result=result, reason=f"the licence is {result} "  # type: ignore[arg-type]
                                          f"(the {region.name} status list)", **base)
    except StatusUnknown as exc:
        return VerificationResult(result="unknown", reason=f"status unknown: {exc}", **base)
    return VerificationResult(result="valid", reason=f"signed by a key {region.name} published and we trust "
                              "(深中互认), not revoked or suspended in its signed status lists",
                              fields=document["fields"], **base)
